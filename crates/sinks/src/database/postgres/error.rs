//! Postgres errors classified into the export taxonomy (DECISIONS D29), with texts that never
//! show the host, user or password (sinks spec §11.1, §17.7 item 8).

use kollect_export::SinkError;
use tokio_postgres::error::SqlState;

/// Classifies `error` of the step `context` (`postgres upsert`, `connect postgres`, ...).
pub(crate) fn classify(context: &str, error: &tokio_postgres::Error) -> SinkError {
    let Some(db) = error.as_db_error() else {
        // No SQLSTATE: the connection failed, was closed, or a TLS or I/O error happened.
        if error.is_closed() {
            return SinkError::unreachable(format!("{context}: the connection was closed"));
        }
        let tls = std::error::Error::source(error)
            .map(ToString::to_string)
            .filter(|text| text.contains("certificate") || text.contains("tls"));
        if let Some(tls) = tls {
            return SinkError::misconfigured(format!("{context}: TLS handshake failed: {tls}"));
        }
        if error.to_string().contains("timed out") || error.to_string().contains("timeout") {
            return SinkError::timeout(format!("{context}: connection timed out"));
        }
        if is_server_tls_refusal(error) {
            return SinkError::misconfigured(format!(
                "{context}: the server does not accept TLS connections; use sslmode=disable \
                 or prefer, or enable ssl on the server"
            ));
        }
        return SinkError::unreachable(format!("{context}: connection failed"));
    };
    let code = db.code();
    let state = code.code();
    let text = format!("{context}: {} (SQLSTATE {state})", db.message());
    let class = &state[..2];
    match class {
        // Authentication: the server's message names the user; keep it out (§17.7 item 8).
        "28" => SinkError::unauthenticated(format!(
            "{context}: authentication failed (SQLSTATE {state}); check the user and password \
             in the Secret"
        )),
        "53" => SinkError::throttled(text),
        "57" if *code == SqlState::QUERY_CANCELED => SinkError::timeout(format!(
            "{context}: cancelled by statement_timeout (SQLSTATE {state})"
        )),
        // Connection exceptions; admin_shutdown (pg_terminate_backend), crash_shutdown,
        // cannot_connect_now.
        "08" | "57" => SinkError::unreachable(text),
        "40" => SinkError::conflict(text),
        "3D" => SinkError::misconfigured(format!(
            "{text}; create the database or fix the DSN in the Secret"
        )),
        "3F" => SinkError::misconfigured(format!(
            "{text}; create the schema or set spec.postgres.schema"
        )),
        "42" if *code == SqlState::INSUFFICIENT_PRIVILEGE => SinkError::permission_denied(format!(
            "{text}; grant the sink's user the privileges listed in docs/sinks/postgres.md"
        )),
        "42" if *code == SqlState::UNDEFINED_TABLE => SinkError::misconfigured(format!(
            "{text}; create the table or use provisioning.mode ensure"
        )),
        "42" => SinkError::misconfigured(format!(
            "{text}; the table does not have the layout of docs/sinks/postgres.md"
        )),
        // Data and integrity errors, and errors raised by triggers: the data is refused.
        "22" | "23" | "P0" => SinkError::invalid_payload(text),
        // Out of disk, too many connections, internal errors: may pass.
        _ => SinkError::other(text),
    }
}

fn is_server_tls_refusal(error: &tokio_postgres::Error) -> bool {
    error.to_string().contains("server does not support TLS")
}

/// Classifies a failure to get a connection from the pool.
pub(crate) fn pool_error(context: &str, error: deadpool_postgres::PoolError) -> SinkError {
    match error {
        deadpool_postgres::PoolError::Backend(error) => classify(context, &error),
        deadpool_postgres::PoolError::Timeout(_) => SinkError::timeout(format!(
            "{context}: no connection within the pool's timeout"
        )),
        deadpool_postgres::PoolError::Closed => {
            SinkError::unreachable(format!("{context}: the connection pool is closed"))
        }
        other => SinkError::other(format!("{context}: {other}")),
    }
}
