//! The backend's own errors, and their classification into [`SinkError`] kinds where the module
//! ends (STYLE §3, DECISIONS D29: construction errors are classified by the same rules).
//!
//! The message keeps the Go original's prefixes (`mongodb upsert`, `mongodb delete stale`, …,
//! sinks spec §12.6); the driver's error becomes the source, **redacted**: hosts, user names,
//! passwords and the URI never appear in a message or a source (the driver names the servers
//! in its server-selection errors).
//!
//! | What failed | Kind |
//! |---|---|
//! | server code 11000/11001/12582 (duplicate key), 121 (document validation) | `InvalidPayload` (terminal) |
//! | server code 10334 (document too large) | `PayloadTooLarge` (terminal) |
//! | authentication (driver), server code 18 | `Unauthenticated` (terminal) |
//! | server code 13 (unauthorized) | `PermissionDenied` (forbidden) |
//! | server codes 26, 72, 85, 86, 67 (namespace or index setup) | `Misconfigured` (terminal) |
//! | server codes 50, 89, 262; an I/O timeout; our own bounds | `Timeout` |
//! | server selection, DNS, refused or reset connections, "not primary" codes | `Unreachable` |
//! | server code 16500 (rate limited) | `Throttled` |
//! | a bad URI, TLS setting or option | `Misconfigured` (terminal) |
//! | anything else | `Other` (transient) |

use std::{io, sync::Arc};

use kollect_export::SinkError;
use mongodb::error::{ErrorKind, WriteFailure};

/// Duplicate key (11000; 11001 and 12582 on old servers): a document of another cluster (or a
/// hand-inserted one) holds the same `(inventory_namespace, inventory_name, target_name,
/// source_uid)`, which the unique index forbids (sinks spec §12.5).
const DUPLICATE_KEY: [i32; 3] = [11000, 11001, 12582];
/// `DocumentValidationFailure`: the collection's validator refuses the document.
const DOCUMENT_VALIDATION_FAILURE: i32 = 121;
/// `BSONObjectTooLarge`.
const OBJECT_TOO_LARGE: i32 = 10334;
/// `Unauthorized`.
const UNAUTHORIZED: i32 = 13;
/// `AuthenticationFailed`.
const AUTHENTICATION_FAILED: i32 = 18;
/// `NamespaceExists`: a concurrent `create` won; the collection is there.
pub(crate) const NAMESPACE_EXISTS: i32 = 48;
/// `NamespaceNotFound`, `InvalidNamespace`, `IndexOptionsConflict`, `IndexKeySpecsConflict`,
/// `CannotCreateIndex`: the destination cannot be set up as configured.
const SETUP_CODES: [i32; 5] = [26, 73, 85, 86, 67];
/// `MaxTimeMSExpired`, `NetworkTimeout`, `ExceededTimeLimit`.
const TIMEOUT_CODES: [i32; 3] = [50, 89, 262];
/// `HostUnreachable`, `HostNotFound`, `ShutdownInProgress`, `PrimarySteppedDown`,
/// `SocketException`, `NotWritablePrimary`, `InterruptedAtShutdown`,
/// `InterruptedDueToReplStateChange`, `NotPrimaryNoSecondaryOk`, `NotPrimaryOrSecondary`.
const UNREACHABLE_CODES: [i32; 10] = [6, 7, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436];
/// `RequestRateTooLarge` (Azure Cosmos DB's MongoDB API).
const THROTTLED: i32 = 16500;

/// Removes what must never leave the sink from driver and server messages: the hosts of the
/// connection string (and those SRV resolution found), the user name, the password and the URI
/// itself, each replaced by `<redacted>`.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    /// Longest first, so that `host:port` goes before `host`.
    needles: Vec<String>,
}

impl Redactor {
    /// Adds `secret` (ignored when empty).
    pub(crate) fn add(&mut self, secret: impl Into<String>) {
        let secret = secret.into();
        if secret.is_empty() || self.needles.contains(&secret) {
            return;
        }
        self.needles.push(secret);
        self.needles
            .sort_by_key(|needle| std::cmp::Reverse(needle.len()));
    }

    /// `text` with every secret replaced.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), "<redacted>");
            }
        }
        text
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.needles.len())
    }
}

/// A driver or server error, redacted: the source of a classified [`SinkError`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct DriverError {
    message: String,
}

/// What went wrong below the sink: the driver's error, or a write error the server reported in
/// an `ok: 1` reply (`writeErrors`, `writeConcernError`).
#[derive(Debug)]
pub(crate) enum Failure {
    /// The driver failed the call (boxed: the driver's error is large).
    Driver(Box<mongodb::error::Error>),
    /// The server refused a statement of a write command.
    Write {
        /// The server's error code.
        code: i32,
        /// The server's message.
        message: String,
    },
}

impl From<mongodb::error::Error> for Failure {
    fn from(error: mongodb::error::Error) -> Self {
        Self::Driver(Box::new(error))
    }
}

/// The class of a failure, before it becomes a [`SinkError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    DuplicateKey,
    Validation,
    TooLarge,
    Unauthenticated,
    PermissionDenied,
    Misconfigured,
    Timeout,
    Unreachable,
    Throttled,
    Other,
}

impl Kind {
    /// The class of a server error code.
    pub(crate) fn of_code(code: i32) -> Self {
        match code {
            code if DUPLICATE_KEY.contains(&code) => Self::DuplicateKey,
            DOCUMENT_VALIDATION_FAILURE => Self::Validation,
            OBJECT_TOO_LARGE => Self::TooLarge,
            UNAUTHORIZED => Self::PermissionDenied,
            AUTHENTICATION_FAILED => Self::Unauthenticated,
            THROTTLED => Self::Throttled,
            code if SETUP_CODES.contains(&code) => Self::Misconfigured,
            code if TIMEOUT_CODES.contains(&code) => Self::Timeout,
            code if UNREACHABLE_CODES.contains(&code) => Self::Unreachable,
            _ => Self::Other,
        }
    }

    /// The class of a failure.
    pub(crate) fn of(failure: &Failure) -> Self {
        match failure {
            Failure::Write { code, .. } => Self::of_code(*code),
            Failure::Driver(error) => Self::of_driver(error.kind.as_ref()),
        }
    }

    fn of_driver(kind: &ErrorKind) -> Self {
        match kind {
            ErrorKind::Authentication { .. } => Self::Unauthenticated,
            ErrorKind::Command(error) => Self::of_code(error.code),
            ErrorKind::Write(WriteFailure::WriteError(error)) => Self::of_code(error.code),
            ErrorKind::Write(WriteFailure::WriteConcernError(error)) => Self::of_code(error.code),
            ErrorKind::Io(error) => Self::of_io(error),
            ErrorKind::ServerSelection { .. }
            | ErrorKind::DnsResolve { .. }
            | ErrorKind::ConnectionPoolCleared { .. } => Self::Unreachable,
            ErrorKind::InvalidArgument { .. }
            | ErrorKind::InvalidTlsConfig { .. }
            | ErrorKind::IncompatibleServer { .. } => Self::Misconfigured,
            _ => Self::Other,
        }
    }

    fn of_io(error: &Arc<io::Error>) -> Self {
        match error.kind() {
            io::ErrorKind::TimedOut => Self::Timeout,
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::UnexpectedEof => Self::Unreachable,
            _ => Self::Other,
        }
    }

    /// A short explanation appended to the context, for the kinds a user acts on.
    fn hint(self) -> Option<&'static str> {
        match self {
            Self::DuplicateKey => Some(
                "duplicate key: a document with the same inventory, target and uid exists for \
                 another cluster (or was inserted by hand); the unique index does not include \
                 the cluster",
            ),
            Self::Validation => Some("the collection's validator refused a document"),
            Self::TooLarge => Some("a document exceeds MongoDB's 16 MiB limit"),
            Self::Unauthenticated => Some("the server refused the credentials of the URI"),
            Self::PermissionDenied => {
                Some("the user of the URI lacks a privilege this operation needs")
            }
            _ => None,
        }
    }

    fn into_sink_error(self, context: String) -> SinkError {
        let context = match self.hint() {
            Some(hint) => format!("{context}: {hint}"),
            None => context,
        };
        match self {
            Self::DuplicateKey | Self::Validation => SinkError::invalid_payload(context),
            Self::TooLarge => SinkError::payload_too_large(context),
            Self::Unauthenticated => SinkError::unauthenticated(context),
            Self::PermissionDenied => SinkError::permission_denied(context),
            Self::Misconfigured => SinkError::misconfigured(context),
            Self::Timeout => SinkError::timeout(context),
            Self::Unreachable => SinkError::unreachable(context),
            Self::Throttled => SinkError::throttled(context),
            Self::Other => SinkError::other(context),
        }
    }
}

/// What the backend failed to do. Converted into a [`SinkError`] by [`Error::into_sink_error`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The URI in the Secret does not parse: a fixed text, nothing of the URI (sinks spec
    /// §11.1 does the same for Postgres DSNs).
    #[error("parse mongodb URI: invalid connection string")]
    InvalidUri,
    /// The URI parses but names an unsupported scheme.
    #[error(
        "parse mongodb URI: the connection string must start with mongodb:// or mongodb+srv://"
    )]
    UnsupportedScheme,
    /// The URI asks for unacknowledged writes.
    #[error(
        "parse mongodb URI: unacknowledged writes (w=0) cannot be checked; use w=1 or more, or \
         majority"
    )]
    UnacknowledgedWrites,
    /// `spec.tls` asks for TLS but the URI turns it off.
    #[error(
        "spec.tls: the connection string disables TLS (tls=false or ssl=false); remove spec.tls \
         or the option"
    )]
    TlsDisabledByUri,
    /// The CA bundle could not be handed to the driver.
    #[error("mongodb connect: failed to hand the CA bundle to the driver")]
    CaFile(#[source] io::Error),
    #[error("mongodb connect")]
    Connect(Failure, Redactor),
    #[error("mongodb ping")]
    Ping(Failure, Redactor),
    #[error("mongodb list collections of {database}")]
    ListCollections {
        database: String,
        failure: Failure,
        redactor: Redactor,
    },
    #[error("mongodb create collection {namespace}")]
    CreateCollection {
        namespace: String,
        failure: Failure,
        redactor: Redactor,
    },
    #[error("mongodb ensure index {index} on {namespace}")]
    EnsureIndex {
        namespace: String,
        index: &'static str,
        failure: Failure,
        redactor: Redactor,
    },
    #[error("mongodb collection {namespace} does not exist (provisioning.mode=existing)")]
    MissingCollection { namespace: String },
    #[error("mongodb read partition {partition} of {namespace}")]
    ReadPartition {
        namespace: String,
        partition: String,
        failure: Failure,
        redactor: Redactor,
    },
    #[error("mongodb upsert into {namespace}")]
    Upsert {
        namespace: String,
        failure: Failure,
        redactor: Redactor,
    },
    #[error("mongodb delete stale from {namespace}")]
    DeleteStale {
        namespace: String,
        failure: Failure,
        redactor: Redactor,
    },
    #[error("mongodb delete all of the partition from {namespace}")]
    DeleteAll {
        namespace: String,
        failure: Failure,
        redactor: Redactor,
    },
    #[error(
        "mongodb upsert into {namespace}: {what} in partition {partition} changed during the \
         export (another writer?); the next attempt reads it again"
    )]
    PartitionChanged {
        namespace: String,
        partition: String,
        what: &'static str,
    },
    #[error("mongodb {what} did not finish within {seconds} s")]
    Deadline { what: &'static str, seconds: u64 },
    #[error("mongodb encode {row}")]
    Encode { row: String, reason: String },
    #[error(
        "mongodb encode {row}: the document is {bytes} bytes, more than MongoDB's limit of \
         {limit} bytes"
    )]
    DocumentTooLarge {
        row: String,
        bytes: usize,
        limit: usize,
    },
    #[error("mongodb encode: the encoder stopped unexpectedly")]
    EncoderTask(#[source] tokio::task::JoinError),
}

impl Error {
    /// The classified [`SinkError`]: this error's message as context (with a hint for the
    /// kinds a user acts on), the redacted driver error as source.
    pub(crate) fn into_sink_error(self) -> SinkError {
        let context = self.to_string();
        match self {
            Self::InvalidUri
            | Self::UnsupportedScheme
            | Self::UnacknowledgedWrites
            | Self::TlsDisabledByUri
            | Self::MissingCollection { .. } => SinkError::misconfigured(context),
            Self::CaFile(source) => SinkError::from_io(context, source),
            Self::PartitionChanged { .. } => SinkError::conflict(context),
            Self::Deadline { .. } => SinkError::timeout(context),
            Self::Encode { reason, .. } => {
                SinkError::invalid_payload(format!("{context}: {reason}"))
            }
            Self::DocumentTooLarge { .. } => SinkError::payload_too_large(context),
            Self::EncoderTask(source) => SinkError::other(context).with_source(source),
            Self::Connect(failure, redactor) | Self::Ping(failure, redactor) => {
                classify(context, &failure, &redactor)
            }
            Self::ListCollections {
                failure, redactor, ..
            }
            | Self::CreateCollection {
                failure, redactor, ..
            }
            | Self::EnsureIndex {
                failure, redactor, ..
            }
            | Self::ReadPartition {
                failure, redactor, ..
            }
            | Self::Upsert {
                failure, redactor, ..
            }
            | Self::DeleteStale {
                failure, redactor, ..
            }
            | Self::DeleteAll {
                failure, redactor, ..
            } => classify(context, &failure, &redactor),
        }
    }
}

impl From<Error> for SinkError {
    fn from(error: Error) -> Self {
        error.into_sink_error()
    }
}

/// The [`SinkError`] of `failure` with `context`, its redacted text as the source.
pub(crate) fn classify(context: String, failure: &Failure, redactor: &Redactor) -> SinkError {
    let kind = Kind::of(failure);
    let text = match failure {
        Failure::Driver(error) => driver_text(error),
        Failure::Write { code, message } => format!("server error {code}: {message}"),
    };
    kind.into_sink_error(context).with_source(DriverError {
        message: redactor.scrub(&text),
    })
}

/// The driver error's text without its labels noise: the kind's own message.
fn driver_text(error: &mongodb::error::Error) -> String {
    error.kind.to_string()
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use kollect_export::ErrorClass;
    use mongodb::error::{ErrorKind, WriteConcernError, WriteError, WriteFailure};

    use super::*;

    fn driver(kind: ErrorKind) -> Failure {
        Failure::from(mongodb::error::Error::from(kind))
    }

    fn command(code: i32) -> Failure {
        let error: mongodb::error::CommandError =
            mongodb::bson::deserialize_from_document(mongodb::bson::doc! {
                "code": code, "codeName": "Test", "errmsg": "refused",
            })
            .expect("a command error");
        driver(ErrorKind::Command(error))
    }

    fn write_error(code: i32) -> Failure {
        let error: WriteError = mongodb::bson::deserialize_from_document(mongodb::bson::doc! {
            "code": code, "errmsg": "refused",
        })
        .expect("a write error");
        driver(ErrorKind::Write(WriteFailure::WriteError(error)))
    }

    fn kind_name(error: &SinkError) -> String {
        format!("{error:?}")
            .split([' ', '{', '('])
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn server_codes_are_classified() {
        let cases = [
            (11000, "InvalidPayload", ErrorClass::Terminal),
            (11001, "InvalidPayload", ErrorClass::Terminal),
            (121, "InvalidPayload", ErrorClass::Terminal),
            (10334, "PayloadTooLarge", ErrorClass::Terminal),
            (13, "PermissionDenied", ErrorClass::Forbidden),
            (18, "Unauthenticated", ErrorClass::Terminal),
            (26, "Misconfigured", ErrorClass::Terminal),
            (85, "Misconfigured", ErrorClass::Terminal),
            (50, "Timeout", ErrorClass::Transient),
            (262, "Timeout", ErrorClass::Transient),
            (10107, "Unreachable", ErrorClass::Transient),
            (91, "Unreachable", ErrorClass::Transient),
            (16500, "Throttled", ErrorClass::Transient),
            (2, "Other", ErrorClass::Transient),
            (112, "Other", ErrorClass::Transient),
        ];
        let redactor = Redactor::default();
        for (code, kind, class) in cases {
            for failure in [
                command(code),
                write_error(code),
                Failure::Write {
                    code,
                    message: "refused".into(),
                },
            ] {
                let error = classify("mongodb upsert into db.coll".into(), &failure, &redactor);
                assert_eq!(kind_name(&error), kind, "{code}: {error:?}");
                assert_eq!(error.class(), class, "{code}");
                assert!(
                    error.to_string().contains("mongodb upsert into db.coll"),
                    "{error}"
                );
            }
        }
    }

    #[test]
    fn a_write_concern_error_is_classified_by_its_code() {
        let error: WriteConcernError = mongodb::bson::deserialize_from_document(mongodb::bson::doc! {
            "code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting for replication timed out",
        })
        .expect("a write concern error");
        let failure = driver(ErrorKind::Write(WriteFailure::WriteConcernError(error)));
        assert_eq!(Kind::of(&failure), Kind::Other);
    }

    #[test]
    fn driver_kinds_are_classified() {
        // The driver's other kinds (authentication, server selection, DNS, invalid argument)
        // cannot be built outside it: the integration tests meet them against a server.
        let io = |kind: io::ErrorKind| ErrorKind::Io(Arc::new(io::Error::from(kind)));
        let cases: Vec<(ErrorKind, Kind)> = vec![
            (io(io::ErrorKind::ConnectionRefused), Kind::Unreachable),
            (io(io::ErrorKind::ConnectionReset), Kind::Unreachable),
            (io(io::ErrorKind::UnexpectedEof), Kind::Unreachable),
            (io(io::ErrorKind::TimedOut), Kind::Timeout),
            (io(io::ErrorKind::InvalidData), Kind::Other),
            (ErrorKind::Shutdown, Kind::Other),
        ];
        for (kind, expected) in cases {
            let text = kind.to_string();
            assert_eq!(Kind::of(&driver(kind)), expected, "{text}");
        }
    }

    #[test]
    fn authentication_failures_are_terminal_and_say_so() {
        let error = Error::Ping(
            Failure::Write {
                code: 18,
                message: "Authentication failed.".into(),
            },
            Redactor::default(),
        )
        .into_sink_error();
        assert!(
            matches!(error, SinkError::Unauthenticated { .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "authentication failed: mongodb ping: the server refused the credentials of the URI"
        );
    }

    #[test]
    fn hosts_users_and_passwords_are_redacted_from_sources() {
        let mut redactor = Redactor::default();
        for secret in [
            "db.internal.example",
            "db.internal.example:27017",
            "alice",
            "s3cr3t",
        ] {
            redactor.add(secret);
        }
        let failure = Failure::Write {
            code: 6,
            message: "Server selection timeout: No available servers. Topology: { Type: \
                      Unknown, Servers: [ { Address: db.internal.example:27017, Error: \
                      connection refused for alice with s3cr3t } ] }"
                .into(),
        };
        let error = Error::Ping(failure, redactor).into_sink_error();
        assert_eq!(error.to_string(), "sink unreachable: mongodb ping");
        let source = error
            .source()
            .expect("the driver error is the source")
            .to_string();
        for secret in ["db.internal.example", "alice", "s3cr3t", "27017"] {
            assert!(!source.contains(secret), "{secret} leaked: {source}");
        }
        assert!(source.contains("Address: <redacted>,"), "{source}");
    }

    #[test]
    fn fixed_texts_reveal_nothing() {
        let error = Error::InvalidUri.into_sink_error();
        assert!(matches!(error, SinkError::Misconfigured { .. }));
        assert_eq!(
            error.to_string(),
            "sink misconfigured: parse mongodb URI: invalid connection string"
        );
        assert!(error.source().is_none());
        let missing = Error::MissingCollection {
            namespace: "kollect.inventory".into(),
        }
        .into_sink_error();
        assert_eq!(
            missing.to_string(),
            "sink misconfigured: mongodb collection kollect.inventory does not exist \
             (provisioning.mode=existing)"
        );
    }

    #[test]
    fn a_duplicate_key_names_the_cause() {
        let error = Error::Upsert {
            namespace: "kollect.inventory".into(),
            failure: Failure::Write {
                code: 11000,
                message: "E11000 duplicate key error collection: kollect.inventory".into(),
            },
            redactor: Redactor::default(),
        }
        .into_sink_error();
        assert_eq!(error.class(), ErrorClass::Terminal);
        assert!(
            !error.is_backend_failure(),
            "one inventory's data, not the backend"
        );
        let text = error.to_string();
        assert!(
            text.starts_with(
                "invalid payload: mongodb upsert into kollect.inventory: duplicate key"
            ),
            "{text}"
        );
        assert!(
            error
                .source()
                .expect("source")
                .to_string()
                .contains("E11000"),
            "the server's message is kept"
        );
    }

    #[test]
    fn a_partition_changed_by_another_writer_is_a_transient_conflict() {
        let error = Error::PartitionChanged {
            namespace: "kollect.inventory".into(),
            partition: "team-a/apps (cluster prod-west)".into(),
            what: "a document to insert",
        }
        .into_sink_error();
        assert!(matches!(error, SinkError::Conflict { .. }), "{error:?}");
        assert!(error.is_retriable());
        assert!(
            error
                .to_string()
                .contains("mongodb upsert into kollect.inventory"),
            "{error}"
        );
    }
}
