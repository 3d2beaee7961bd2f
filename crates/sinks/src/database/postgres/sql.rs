//! The SQL the Postgres sink runs, built once per sink with the quoted table names (sinks spec
//! §11.2, §11.3). Every value is a bound parameter; identifiers are quoted.

use super::config::Config;

/// The eight columns of a row, in table order.
pub(crate) const COLUMNS: &str = "inventory_namespace, inventory_name, target_name, source_uid, \
                                  cluster, resource_namespace, payload, exported_at";

/// Columns `(name, type)` the table must have, as `information_schema` spells the types.
pub(crate) const REQUIRED_COLUMNS: [(&str, &str); 8] = [
    ("inventory_namespace", "text"),
    ("inventory_name", "text"),
    ("target_name", "text"),
    ("source_uid", "text"),
    ("cluster", "text"),
    ("resource_namespace", "text"),
    ("payload", "jsonb"),
    ("exported_at", "timestamp with time zone"),
];

/// Columns the history table must have besides the first seven above.
pub(crate) const HISTORY_COLUMNS: [(&str, &str); 2] = [
    ("valid_from", "timestamp with time zone"),
    ("valid_to", "timestamp with time zone"),
];

/// The temporary table the bulk paths copy rows into (dropped at commit).
pub(crate) const STAGING: &str = "kollect_export_staging";

/// The statements of one sink.
#[derive(Clone, Debug)]
pub(crate) struct Sql {
    pub(crate) create_table: String,
    pub(crate) create_history: String,
    pub(crate) create_staging: String,
    pub(crate) copy_staging: String,
    pub(crate) analyze_staging: String,
    /// `$1..$8`: one row.
    pub(crate) upsert_one: String,
    /// Same as `upsert_one`, and the history versions of the row in the same statement.
    pub(crate) upsert_one_history: String,
    pub(crate) upsert_staged: String,
    pub(crate) close_history_staged: String,
    pub(crate) open_history_staged: String,
    /// `$1` ns, `$2` name, `$3` cluster, `$4` target names, `$5` uids, `$6` now: returns the
    /// number of rows deleted.
    pub(crate) delete_keys: String,
    /// `$1` ns, `$2` name, `$3` cluster, `$4` now: deletes the partition's rows missing from the
    /// staging table; returns their number.
    pub(crate) delete_unstaged: String,
    /// Removes from the staging table the rows the table already holds unchanged.
    pub(crate) prune_unchanged: String,
    /// `$1` ns, `$2` name, `$3` cluster: opens a history version for rows that have none.
    pub(crate) seed_history: String,
    /// `$1` ns, `$2` name, `$3` cluster, `$4` a transaction id: the partition's row count, and
    /// whether no row version is younger than that transaction.
    pub(crate) stamp: String,
}

impl Sql {
    // One statement per field: a table of SQL, longer than a function usually is.
    #[allow(clippy::too_many_lines)]
    pub(crate) fn new(config: &Config) -> Self {
        let table = config.table_ref();
        let history = config.history_ref();
        let on_conflict = "ON CONFLICT (inventory_namespace, inventory_name, target_name, source_uid) \
             DO UPDATE SET payload = EXCLUDED.payload, exported_at = EXCLUDED.exported_at, \
             cluster = EXCLUDED.cluster, resource_namespace = EXCLUDED.resource_namespace";
        let history_on_conflict = "ON CONFLICT (inventory_namespace, inventory_name, target_name, \
             source_uid, valid_from) DO UPDATE SET payload = EXCLUDED.payload, \
             cluster = EXCLUDED.cluster, resource_namespace = EXCLUDED.resource_namespace, \
             valid_to = NULL";
        let history_columns = "inventory_namespace, inventory_name, target_name, source_uid, \
                               cluster, resource_namespace, payload, valid_from, valid_to";
        // Deleting rows closes their open history versions, in the same statement.
        let close_gone = if config.history {
            format!(
                ", closed AS (UPDATE {history} AS h SET valid_to = GREATEST(h.valid_from, $NOW) \
                 FROM gone WHERE h.inventory_namespace = $1 AND h.inventory_name = $2 \
                 AND h.target_name = gone.target_name AND h.source_uid = gone.source_uid \
                 AND h.valid_to IS NULL RETURNING 1)"
            )
        } else {
            String::new()
        };
        let with_gone = |delete: &str, now: &str| {
            format!(
                "WITH gone AS ({delete} RETURNING t.target_name, t.source_uid){} \
                 SELECT count(*) FROM gone",
                close_gone.replace("$NOW", now)
            )
        };
        let partition = "t.inventory_namespace = $1 AND t.inventory_name = $2 AND t.cluster = $3";
        Self {
            create_table: format!(
                "CREATE TABLE IF NOT EXISTS {table} (\n\
                 \x20   inventory_namespace TEXT        NOT NULL,\n\
                 \x20   inventory_name      TEXT        NOT NULL,\n\
                 \x20   target_name         TEXT        NOT NULL,\n\
                 \x20   source_uid          TEXT        NOT NULL,\n\
                 \x20   cluster             TEXT        NOT NULL DEFAULT '',\n\
                 \x20   resource_namespace  TEXT        NOT NULL DEFAULT '',\n\
                 \x20   payload             JSONB       NOT NULL,\n\
                 \x20   exported_at         TIMESTAMPTZ NOT NULL,\n\
                 \x20   PRIMARY KEY (inventory_namespace, inventory_name, target_name, source_uid)\n\
                 )"
            ),
            create_history: format!(
                "CREATE TABLE IF NOT EXISTS {history} (\n\
                 \x20   inventory_namespace TEXT        NOT NULL,\n\
                 \x20   inventory_name      TEXT        NOT NULL,\n\
                 \x20   target_name         TEXT        NOT NULL,\n\
                 \x20   source_uid          TEXT        NOT NULL,\n\
                 \x20   cluster             TEXT        NOT NULL DEFAULT '',\n\
                 \x20   resource_namespace  TEXT        NOT NULL DEFAULT '',\n\
                 \x20   payload             JSONB       NOT NULL,\n\
                 \x20   valid_from          TIMESTAMPTZ NOT NULL,\n\
                 \x20   valid_to            TIMESTAMPTZ,\n\
                 \x20   PRIMARY KEY (inventory_namespace, inventory_name, target_name, source_uid, valid_from)\n\
                 )"
            ),
            create_staging: format!(
                "CREATE TEMP TABLE {STAGING} (\
                 inventory_namespace TEXT NOT NULL, inventory_name TEXT NOT NULL, \
                 target_name TEXT NOT NULL, source_uid TEXT NOT NULL, \
                 cluster TEXT NOT NULL, resource_namespace TEXT NOT NULL, \
                 payload JSONB NOT NULL, exported_at TIMESTAMPTZ NOT NULL) ON COMMIT DROP"
            ),
            copy_staging: format!("COPY {STAGING} ({COLUMNS}) FROM STDIN (FORMAT binary)"),
            // The index keeps every join with the staging table an index lookup, whatever
            // the planner believes about the sizes (a table loaded a moment ago has no
            // statistics yet, and a nested loop over an unindexed staging table is quadratic).
            analyze_staging: format!(
                "CREATE INDEX ON {STAGING} (target_name, source_uid); ANALYZE {STAGING}"
            ),
            upsert_one: format!(
                "INSERT INTO {table} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 {on_conflict}"
            ),
            upsert_one_history: format!(
                "WITH up AS (INSERT INTO {table} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 {on_conflict} RETURNING {COLUMNS}), \
                 closed AS (UPDATE {history} AS h SET valid_to = GREATEST(h.valid_from, up.exported_at) \
                 FROM up WHERE h.inventory_namespace = up.inventory_namespace \
                 AND h.inventory_name = up.inventory_name AND h.target_name = up.target_name \
                 AND h.source_uid = up.source_uid AND h.valid_to IS NULL \
                 AND h.valid_from <> up.exported_at RETURNING 1) \
                 INSERT INTO {history} ({history_columns}) \
                 SELECT inventory_namespace, inventory_name, target_name, source_uid, cluster, \
                 resource_namespace, payload, exported_at, NULL FROM up {history_on_conflict}"
            ),
            upsert_staged: format!(
                "INSERT INTO {table} ({COLUMNS}) SELECT {COLUMNS} FROM {STAGING} {on_conflict}"
            ),
            close_history_staged: format!(
                "UPDATE {history} AS h SET valid_to = GREATEST(h.valid_from, s.exported_at) \
                 FROM {STAGING} AS s WHERE h.inventory_namespace = s.inventory_namespace \
                 AND h.inventory_name = s.inventory_name AND h.target_name = s.target_name \
                 AND h.source_uid = s.source_uid AND h.valid_to IS NULL \
                 AND h.valid_from <> s.exported_at"
            ),
            open_history_staged: format!(
                "INSERT INTO {history} ({history_columns}) \
                 SELECT inventory_namespace, inventory_name, target_name, source_uid, cluster, \
                 resource_namespace, payload, exported_at, NULL FROM {STAGING} \
                 {history_on_conflict}"
            ),
            delete_keys: with_gone(
                &format!(
                    "DELETE FROM {table} AS t WHERE {partition} AND (t.target_name, t.source_uid) \
                     IN (SELECT * FROM unnest($4::text[], $5::text[]))"
                ),
                "$6",
            ),
            delete_unstaged: with_gone(
                &format!(
                    "DELETE FROM {table} AS t WHERE {partition} AND NOT EXISTS (SELECT 1 FROM \
                     {STAGING} AS s WHERE s.target_name = t.target_name \
                     AND s.source_uid = t.source_uid)"
                ),
                "$4",
            ),
            prune_unchanged: format!(
                "DELETE FROM {STAGING} AS s USING {table} AS t \
                 WHERE t.inventory_namespace = s.inventory_namespace \
                 AND t.inventory_name = s.inventory_name AND t.target_name = s.target_name \
                 AND t.source_uid = s.source_uid AND t.cluster = s.cluster \
                 AND t.resource_namespace = s.resource_namespace AND t.payload = s.payload"
            ),
            stamp: format!(
                "SELECT count(*), coalesce(min(age(t.xmin)) >= age($4::text::xid), true) \
                 FROM {table} AS t WHERE {partition}"
            ),
            seed_history: format!(
                "INSERT INTO {history} ({history_columns}) \
                 SELECT t.inventory_namespace, t.inventory_name, t.target_name, t.source_uid, \
                 t.cluster, t.resource_namespace, t.payload, t.exported_at, NULL \
                 FROM {table} AS t WHERE {partition} AND NOT EXISTS (SELECT 1 FROM {history} AS h \
                 WHERE h.inventory_namespace = t.inventory_namespace \
                 AND h.inventory_name = t.inventory_name AND h.target_name = t.target_name \
                 AND h.source_uid = t.source_uid AND h.valid_to IS NULL) \
                 ON CONFLICT DO NOTHING"
            ),
        }
    }
}
