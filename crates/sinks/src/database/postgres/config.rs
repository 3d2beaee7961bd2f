//! The Postgres sink's configuration: the `KollectDatabaseSink` spec, the connection string from
//! its Secret and the TLS settings (sinks spec §11.1, DECISIONS D3, D12).

use std::{str::FromStr as _, time::Duration};

use kollect_api::v1alpha1::{DatabaseSinkType, ProvisioningMode};
use kollect_export::{ResolvedSinkSpec, SinkError, SinkSpec};
use rustls_pki_types::CertificateDer;

use crate::database::connection_string;

/// Secret keys that may hold the connection string, in order (sinks spec §11.1).
pub const DSN_KEYS: [&str; 4] = ["dsn", "url", "connectionString", "DATABASE_URL"];

/// `statement_timeout` of the sink's sessions unless the DSN sets one: a statement that runs
/// longer is cancelled and the export fails as a transient `Timeout`.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Time allowed to open a connection unless the DSN's `connect_timeout` says otherwise.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the sink needs, resolved and checked.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) schema: String,
    pub(crate) table: String,
    pub(crate) history: bool,
    pub(crate) mode: ProvisioningMode,
    /// `spec.cluster`, trimmed (empty when unset).
    pub(crate) cluster: String,
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) tls: Tls,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection settings hold the password: never printed.
        f.debug_struct("Config")
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("history", &self.history)
            .field("mode", &self.mode)
            .field("cluster", &self.cluster)
            .field("tls", &self.tls.mode)
            .finish_non_exhaustive()
    }
}

/// How the connection is encrypted and verified (libpq's `sslmode`, DECISIONS D12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, unverified (libpq `allow`/`prefer`, the default).
    Prefer,
    /// TLS, unverified unless a CA is given (then as `VerifyCa`, as libpq does).
    Require,
    /// TLS, the chain checked against the CA, not the host name.
    VerifyCa,
    /// TLS, the chain and the host name checked.
    VerifyFull,
}

/// TLS settings: the mode, the trusted CAs, and `spec.tls.insecureSkipVerify`.
#[derive(Clone, Debug)]
pub(crate) struct Tls {
    pub(crate) mode: SslMode,
    pub(crate) roots: Vec<CertificateDer<'static>>,
    pub(crate) insecure_skip_verify: bool,
}

impl Config {
    /// Reads and checks the sink's spec and Secret. Errors are `Misconfigured` and never show
    /// the connection string, host, user or password.
    pub(crate) fn from_spec(spec: &ResolvedSinkSpec) -> Result<Self, SinkError> {
        let SinkSpec::Database(database) = spec.spec() else {
            return Err(SinkError::misconfigured(
                "the postgres backend serves KollectDatabaseSink objects only",
            ));
        };
        if database.sink_type != DatabaseSinkType::Postgres {
            return Err(SinkError::misconfigured(format!(
                "the postgres backend cannot build a {} sink",
                database.sink_type
            )));
        }
        let Some(postgres) = &database.postgres else {
            return Err(SinkError::misconfigured(
                "spec.postgres: required when spec.type is postgres",
            ));
        };
        let table = identifier("spec.postgres.table", &postgres.table)?;
        let schema = identifier("spec.postgres.schema", postgres.schema_or_default())?;
        let history = postgres.history();
        if history && table.len() + kollect_api::v1alpha1::PostgresSpec::HISTORY_SUFFIX.len() > 63 {
            return Err(SinkError::misconfigured(format!(
                "spec.postgres.table: {table}_history is longer than the 63 bytes Postgres keeps; \
                 shorten the table name or turn history off"
            )));
        }
        let dsn = connection_string(spec.secrets(), &DSN_KEYS, "postgres databaseRef")?;
        let parsed = Dsn::split(&dsn)?;
        let mut pg = tokio_postgres::Config::from_str(&parsed.rest).map_err(|_| {
            SinkError::misconfigured(
                "parse postgres DSN: invalid connection string (check the Secret's value: a \
                 postgres:// URL or key=value pairs)",
            )
        })?;
        let tls = Tls::new(&parsed, spec)?;
        pg.ssl_mode(match tls.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(CONNECT_TIMEOUT);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("kollect");
        }
        let options = pg.get_options().unwrap_or_default().to_owned();
        if !options.contains("statement_timeout") {
            let timeout = format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis());
            pg.options(format!("{options} {timeout}").trim());
        }
        Ok(Self {
            schema,
            table,
            history,
            mode: database.common.provisioning_mode(),
            cluster: database
                .common
                .cluster
                .as_deref()
                .map(str::trim)
                .unwrap_or_default()
                .to_owned(),
            pg,
            tls,
        })
    }

    /// `"<schema>"."<table>"`.
    pub(crate) fn table_ref(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }

    /// `"<schema>"."<table>_history"`.
    pub(crate) fn history_ref(&self) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.schema),
            quote_ident(&format!(
                "{}{}",
                self.table,
                kollect_api::v1alpha1::PostgresSpec::HISTORY_SUFFIX
            ))
        )
    }
}

fn identifier(field: &str, value: &str) -> Result<String, SinkError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(SinkError::misconfigured(format!(
            "{field}: must not be empty"
        )));
    }
    if value.len() > 63 {
        return Err(SinkError::misconfigured(format!(
            "{field}: {value:?} is longer than the 63 bytes Postgres keeps"
        )));
    }
    if value.contains('\0') {
        return Err(SinkError::misconfigured(format!(
            "{field}: must not contain NUL characters"
        )));
    }
    Ok(value.to_owned())
}

/// A double-quoted SQL identifier, embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Tls {
    fn new(dsn: &Dsn, spec: &ResolvedSinkSpec) -> Result<Self, SinkError> {
        let insecure_skip_verify = crate::tls::insecure_skip_verify(spec.spec().common());
        let mut roots = match spec.ca_bundle() {
            Some(pem) => parse_roots(pem, "spec.tls CA bundle")?,
            None => Vec::new(),
        };
        if roots.is_empty()
            && let Some(path) = &dsn.sslrootcert
        {
            if path == "system" {
                return Err(SinkError::misconfigured(
                    "sslrootcert=system is not supported: give the CA in spec.tls.caBundle or \
                     spec.tls.caSecretRef",
                ));
            }
            let pem = std::fs::read(path).map_err(|error| {
                SinkError::misconfigured(format!(
                    "postgres DSN: cannot read sslrootcert {path}: {error}"
                ))
            })?;
            roots = parse_roots(&pem, "sslrootcert")?;
        }
        let mode = match dsn.sslmode.as_deref() {
            None | Some("prefer" | "allow") => SslMode::Prefer,
            Some("disable") => SslMode::Disable,
            Some("require") if roots.is_empty() => SslMode::Require,
            Some("require" | "verify-ca") => SslMode::VerifyCa,
            Some("verify-full") => SslMode::VerifyFull,
            Some(other) => {
                return Err(SinkError::misconfigured(format!(
                    "postgres DSN: unsupported sslmode {other:?}; use disable, prefer, require, \
                     verify-ca or verify-full"
                )));
            }
        };
        if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull)
            && roots.is_empty()
            && !insecure_skip_verify
        {
            return Err(SinkError::misconfigured(
                "postgres DSN: sslmode verify-ca and verify-full need the server's CA: set \
                 spec.tls.caBundle or spec.tls.caSecretRef (or sslrootcert in the DSN)",
            ));
        }
        Ok(Self {
            mode,
            roots,
            insecure_skip_verify,
        })
    }
}

fn parse_roots(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, SinkError> {
    crate::tls::pem_roots(pem).map_err(|error| SinkError::misconfigured(format!("{what}: {error}")))
}

/// A connection string with the settings tokio-postgres does not know taken out: `sslmode`
/// (it knows only disable/prefer/require) and `sslrootcert`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Dsn {
    pub(crate) rest: String,
    pub(crate) sslmode: Option<String>,
    pub(crate) sslrootcert: Option<String>,
}

impl Dsn {
    pub(crate) fn split(dsn: &str) -> Result<Self, SinkError> {
        if dsn.starts_with("postgres://") || dsn.starts_with("postgresql://") {
            Ok(Self::split_url(dsn))
        } else {
            Self::split_pairs(dsn)
        }
    }

    fn split_url(dsn: &str) -> Self {
        let Some((base, query)) = dsn.split_once('?') else {
            return Self {
                rest: dsn.to_owned(),
                ..Self::default()
            };
        };
        let mut out = Self::default();
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = || {
                url::form_urlencoded::parse(format!("v={value}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            match key {
                "sslmode" => out.sslmode = Some(decoded()),
                "sslrootcert" => out.sslrootcert = Some(decoded()),
                _ => kept.push(pair),
            }
        }
        out.rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        out
    }

    fn split_pairs(dsn: &str) -> Result<Self, SinkError> {
        let invalid = || {
            SinkError::misconfigured(
                "parse postgres DSN: invalid connection string (check the Secret's value: a \
                 postgres:// URL or key=value pairs)",
            )
        };
        let mut out = Self::default();
        let mut kept: Vec<(String, String)> = Vec::new();
        let mut chars = dsn.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.peek().is_none() {
                break;
            }
            let mut key = String::new();
            while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
                key.push(c);
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.next() != Some('=') || key.is_empty() {
                return Err(invalid());
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let mut value = String::new();
            if chars.next_if_eq(&'\'').is_some() {
                loop {
                    match chars.next() {
                        None => return Err(invalid()),
                        Some('\'') => break,
                        Some('\\') => value.push(chars.next().ok_or_else(invalid)?),
                        Some(c) => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    if c == '\\' {
                        value.push(chars.next().ok_or_else(invalid)?);
                    } else {
                        value.push(c);
                    }
                }
            }
            match key.as_str() {
                "sslmode" => out.sslmode = Some(value),
                "sslrootcert" => out.sslrootcert = Some(value),
                _ => kept.push((key, value)),
            }
        }
        out.rest = kept
            .iter()
            .map(|(key, value)| {
                format!(
                    "{key}='{}'",
                    value.replace('\\', "\\\\").replace('\'', "\\'")
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_dsns_lose_only_the_tls_settings() {
        let dsn = Dsn::split(
            "postgres://u:p@db:5432/inv?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(dsn.rest, "postgres://u:p@db:5432/inv?application_name=x");
        assert_eq!(dsn.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(dsn.sslrootcert.as_deref(), Some("/etc/ca.pem"));
        let plain = Dsn::split("postgresql://db/inv").unwrap();
        assert_eq!(plain.rest, "postgresql://db/inv");
        assert_eq!(plain.sslmode, None);
    }

    #[test]
    fn key_value_dsns_keep_quoting_and_escapes() {
        let dsn = Dsn::split("host=db  user = kollect password='it''s' sslmode=require dbname=inv");
        // `''` is not an escape in libpq syntax: the quoted value ends at the second quote.
        assert!(dsn.is_err(), "an unbalanced quote is refused");
        let dsn = Dsn::split(
            r"host=db user = kollect password='it\'s a \\secret' sslmode=require dbname=inv",
        )
        .unwrap();
        assert_eq!(
            dsn.rest,
            r"host='db' user='kollect' password='it\'s a \\secret' dbname='inv'"
        );
        assert_eq!(dsn.sslmode.as_deref(), Some("require"));
        let parsed = tokio_postgres::Config::from_str(&dsn.rest).unwrap();
        assert_eq!(parsed.get_password(), Some(&b"it's a \\secret"[..]));
    }

    #[test]
    fn bad_key_value_dsns_are_refused_without_echoing_them() {
        for bad in ["host", "=db", "host='db", "host=db password=x\\"] {
            let error = Dsn::split(bad).unwrap_err().to_string();
            assert!(
                error.contains("invalid connection string"),
                "{bad}: {error}"
            );
            assert!(!error.contains("db") || bad == "=db", "{bad}: {error}");
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("inventory"), "\"inventory\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
