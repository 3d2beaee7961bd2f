//! The Postgres database sink (sinks spec §10, §11; ADR 0011; `docs/sinks/postgres.md`).
//!
//! * The table is the Go original's, column for column and with its primary key (DECISIONS
//!   D7); `provisioning.mode: existing` only checks it (D3). `spec.postgres.history: true` adds
//!   `<table>_history`, one row per version with `valid_from`/`valid_to`.
//! * One transaction per export: readers see the old or the new state of the inventory, never
//!   a mix. Exports of one partition (inventory × cluster) are serialised by an advisory lock.
//! * Incremental: the sink remembers what it wrote and sends only the change set; after a
//!   restart, a failure, lock contention or [`VERIFY_EVERY`], it copies every row into a
//!   staging table and lets the server find what differs — so it writes only the rows that
//!   changed either way. An unchanged inventory runs no statement at all.
//! * TLS follows libpq's `sslmode` (`verify-ca`/`verify-full` included), with the CA from
//!   `spec.tls` (D12). Errors are classified per SQLSTATE (D29) and never show the host, user or
//!   password.

mod config;
mod error;
mod sink;
mod sql;
mod tls;

pub use config::{CONNECT_TIMEOUT, DSN_KEYS, STATEMENT_TIMEOUT};
pub use sink::{BULK_THRESHOLD, PROBE_TIMEOUT, PostgresSink, PostgresSinkFactory, VERIFY_EVERY};
