//! [`SinkError`]: what a sink reports, as semantic kinds, and how each kind maps onto the error
//! taxonomy of the pipeline spec (§7): its [`ErrorClass`], whether the call may be retried at
//! once, and the condition reason it surfaces as.
//!
//! | Kind | Class | Retried in the call | Condition reason |
//! |---|---|---|---|
//! | `Unreachable`, `Timeout`, `Throttled`, `Conflict`, `Other` | transient | yes | `ExportFailed` |
//! | `CircuitOpen` | transient | no (the breaker stays open for 30 s) | `ExportFailed` |
//! | `PermissionDenied` | forbidden | no | `ExportFailed` |
//! | `Unauthenticated`, `InvalidPayload`, `Misconfigured` | terminal | no | `ExportTerminal` |
//! | `PayloadTooLarge` | terminal | no | `PayloadTooLarge` |
//!
//! Sinks classify their own errors (DECISIONS D29) — helped by [`SinkError::from_io`] and
//! [`SinkError::from_http_status`] — and never retry; retries are the [`crate::Retrying`]
//! decorator's job. The message is a lowercase sentence of what failed; the backend's own error
//! goes into the `source` chain, never into the message.

use std::io;

use kollect_api::v1alpha1::Reason;

use crate::id::SinkId;

/// A backend's own error, kept as the source of a [`SinkError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`SinkError`].
pub type Result<T, E = SinkError> = std::result::Result<T, E>;

/// The class of an error in the pipeline's taxonomy (pipeline spec §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// May succeed later without any change: retried at the export cadence.
    Transient,
    /// Will not succeed until configuration or data changes: no timed retry.
    Terminal,
    /// Denied by an access policy; the grant is fixed outside the cluster, so it is retried at
    /// the export cadence, but never at once.
    Forbidden,
}

impl ErrorClass {
    /// The lower-case class name (`error_class` and `reason` metric label values).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Terminal => "terminal",
            Self::Forbidden => "forbidden",
        }
    }

    /// The class of several failures of one reconcile (pipeline spec §7.1): a single failure
    /// keeps its class; several are terminal only when every one is, otherwise transient (so
    /// that a retry still happens). `None` when there is no failure.
    pub fn aggregate(classes: impl IntoIterator<Item = Self>) -> Option<Self> {
        let mut classes = classes.into_iter();
        let first = classes.next()?;
        let mut all_terminal = first == Self::Terminal;
        let mut several = false;
        for class in classes {
            several = true;
            all_terminal &= class == Self::Terminal;
        }
        Some(match (several, all_terminal) {
            (false, _) => first,
            (true, true) => Self::Terminal,
            (true, false) => Self::Transient,
        })
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an export or a probe failed. The only `#[non_exhaustive]` enum of the project: backends
/// add kinds here when the taxonomy needs one, and callers keep a fallback arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The backend cannot be reached: refused or reset connection, name resolution failure,
    /// 5xx from a gateway.
    #[error("sink unreachable: {context}")]
    Unreachable {
        /// What was attempted, lowercase (`connect to nats://nats:4222`).
        context: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
    /// A call did not finish in time.
    #[error("sink timed out: {context}")]
    Timeout {
        /// What was attempted and how long it was given.
        context: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend asked the client to slow down (HTTP 429, quota or rate limits).
    #[error("sink throttled: {context}")]
    Throttled {
        /// What was attempted.
        context: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
    /// The sink's circuit breaker is open: the backend was not called.
    #[error("sink circuit breaker open for \"{sink}\"")]
    CircuitOpen {
        /// The sink whose breaker is open.
        sink: SinkId,
    },
    /// The backend rejected the credentials.
    #[error("authentication failed: {context}")]
    Unauthenticated {
        /// What was attempted.
        context: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
    /// The credentials are valid but lack a permission.
    #[error("permission denied: {context}")]
    PermissionDenied {
        /// What was attempted.
        context: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
    /// A concurrent writer got there first (non-fast-forward push, failed precondition); a
    /// retry re-reads the current state.
    #[error("write conflict: {context}")]
    Conflict {
        /// What was attempted.
        context: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend refuses the data itself (a value it cannot store, a schema mismatch).
    #[error("invalid payload: {context}")]
    InvalidPayload {
        /// What was rejected.
        context: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
    /// The payload cannot be written within the size cap: a single row does not fit in one
    /// part (DECISIONS Q1), or the backend refused a part as too large. Nothing was written.
    #[error("payload too large: {context}")]
    PayloadTooLarge {
        /// What did not fit.
        context: String,
        /// The row that does not fit, or the backend's error.
        #[source]
        source: Option<BoxError>,
    },
    /// The sink's configuration cannot work: a missing bucket, table or stream, an unknown
    /// sink type, a destination that rejects the operation.
    #[error("sink misconfigured: {context}")]
    Misconfigured {
        /// What is wrong.
        context: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
    /// Anything else; transient, as the spec treats unclassified backend errors.
    #[error("sink failed: {context}")]
    Other {
        /// What was attempted.
        context: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $fn_name:ident => $variant:ident,)+) => {
        $(
            $(#[$doc])*
            pub fn $fn_name(context: impl Into<String>) -> Self {
                Self::$variant { context: context.into(), source: None }
            }
        )+
    };
}

impl SinkError {
    constructors! {
        /// [`SinkError::Unreachable`] without a source.
        unreachable => Unreachable,
        /// [`SinkError::Timeout`] without a source.
        timeout => Timeout,
        /// [`SinkError::Throttled`] without a source.
        throttled => Throttled,
        /// [`SinkError::Unauthenticated`] without a source.
        unauthenticated => Unauthenticated,
        /// [`SinkError::PermissionDenied`] without a source.
        permission_denied => PermissionDenied,
        /// [`SinkError::Conflict`] without a source.
        conflict => Conflict,
        /// [`SinkError::InvalidPayload`] without a source.
        invalid_payload => InvalidPayload,
        /// [`SinkError::PayloadTooLarge`] without a source.
        payload_too_large => PayloadTooLarge,
        /// [`SinkError::Misconfigured`] without a source.
        misconfigured => Misconfigured,
        /// [`SinkError::Other`] without a source.
        other => Other,
    }

    /// Attaches the backend's error as the source (ignored by `CircuitOpen`, which has none).
    #[must_use]
    pub fn with_source(mut self, error: impl Into<BoxError>) -> Self {
        match &mut self {
            Self::Unreachable { source, .. }
            | Self::Timeout { source, .. }
            | Self::Throttled { source, .. }
            | Self::Unauthenticated { source, .. }
            | Self::PermissionDenied { source, .. }
            | Self::Conflict { source, .. }
            | Self::InvalidPayload { source, .. }
            | Self::PayloadTooLarge { source, .. }
            | Self::Misconfigured { source, .. }
            | Self::Other { source, .. } => *source = Some(error.into()),
            Self::CircuitOpen { .. } => {}
        }
        self
    }

    /// The error's class in the taxonomy.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Unreachable { .. }
            | Self::Timeout { .. }
            | Self::Throttled { .. }
            | Self::CircuitOpen { .. }
            | Self::Conflict { .. }
            | Self::Other { .. } => ErrorClass::Transient,
            Self::PermissionDenied { .. } => ErrorClass::Forbidden,
            Self::Unauthenticated { .. }
            | Self::InvalidPayload { .. }
            | Self::PayloadTooLarge { .. }
            | Self::Misconfigured { .. } => ErrorClass::Terminal,
        }
    }

    /// Whether trying the same call again after a short back-off may succeed: transient errors,
    /// except an open circuit breaker (it stays open far longer than a back-off).
    pub fn is_retriable(&self) -> bool {
        self.class() == ErrorClass::Transient && !matches!(self, Self::CircuitOpen { .. })
    }

    /// The condition (and Event) reason an export failing with this error surfaces as
    /// (pipeline spec §7.4; DECISIONS Q1 for `PayloadTooLarge`).
    pub fn reason(&self) -> Reason {
        match (self, self.class()) {
            (Self::PayloadTooLarge { .. }, _) => Reason::PayloadTooLarge,
            (_, ErrorClass::Terminal) => Reason::ExportTerminal,
            (_, ErrorClass::Transient | ErrorClass::Forbidden) => Reason::ExportFailed,
        }
    }

    /// Whether the error tells something about the backend's health, so that it counts towards
    /// opening the circuit breaker. Errors about one inventory's data (`InvalidPayload`,
    /// `PayloadTooLarge`) do not: they must not block the other inventories of the sink.
    pub fn is_backend_failure(&self) -> bool {
        !matches!(
            self,
            Self::InvalidPayload { .. } | Self::PayloadTooLarge { .. }
        )
    }

    /// Classifies an I/O error by its kind and keeps it as the source. `context` says what was
    /// attempted (`write inventory/team-a/apps.json`).
    pub fn from_io(context: impl Into<String>, error: io::Error) -> Self {
        let constructor = match error.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::UnexpectedEof => Self::unreachable,
            io::ErrorKind::TimedOut => Self::timeout,
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                Self::permission_denied
            }
            io::ErrorKind::AlreadyExists => Self::conflict,
            io::ErrorKind::NotFound
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::Unsupported
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::IsADirectory => Self::misconfigured,
            io::ErrorKind::InvalidData => Self::invalid_payload,
            io::ErrorKind::FileTooLarge => Self::payload_too_large,
            // Interrupted, WouldBlock, StorageFull, QuotaExceeded, OutOfMemory, Other and kinds
            // added to std later: nothing says retrying cannot help.
            _ => Self::other,
        };
        constructor(context).with_source(error)
    }

    /// Classifies a failed HTTP call by its status code. `context` says what was attempted.
    /// Codes that are not errors (1xx–3xx) or not HTTP at all (outside 100–599) are `Other`:
    /// the caller reported a failure the status does not explain.
    pub fn from_http_status(context: impl Into<String>, status: u16) -> Self {
        let context = context.into();
        let constructor = match status {
            400 | 422 => Self::invalid_payload,
            401 | 407 => Self::unauthenticated,
            403 => Self::permission_denied,
            404 | 405 | 410 | 501 | 505 => Self::misconfigured,
            409 | 412 => Self::conflict,
            413 => Self::payload_too_large,
            408 | 504 => Self::timeout,
            429 => Self::throttled,
            500 | 502 | 503 => Self::unreachable,
            _ => Self::other,
        };
        constructor(format!("{context} (http status {status})"))
    }
}

impl From<kollect_aggregate::PayloadTooLarge> for SinkError {
    fn from(error: kollect_aggregate::PayloadTooLarge) -> Self {
        Self::payload_too_large(format!(
            "a row does not fit in one part of {} bytes",
            error.max_bytes
        ))
        .with_source(error)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use rstest::rstest;

    use super::*;

    fn sink() -> SinkId {
        "team-a/snapshot/git".parse().unwrap()
    }

    #[test]
    fn classes_follow_the_taxonomy_table() {
        let cases: Vec<(SinkError, ErrorClass, bool, Reason)> = vec![
            (
                SinkError::unreachable("x"),
                ErrorClass::Transient,
                true,
                Reason::ExportFailed,
            ),
            (
                SinkError::timeout("x"),
                ErrorClass::Transient,
                true,
                Reason::ExportFailed,
            ),
            (
                SinkError::throttled("x"),
                ErrorClass::Transient,
                true,
                Reason::ExportFailed,
            ),
            (
                SinkError::conflict("x"),
                ErrorClass::Transient,
                true,
                Reason::ExportFailed,
            ),
            (
                SinkError::other("x"),
                ErrorClass::Transient,
                true,
                Reason::ExportFailed,
            ),
            (
                SinkError::CircuitOpen { sink: sink() },
                ErrorClass::Transient,
                false,
                Reason::ExportFailed,
            ),
            (
                SinkError::permission_denied("x"),
                ErrorClass::Forbidden,
                false,
                Reason::ExportFailed,
            ),
            (
                SinkError::unauthenticated("x"),
                ErrorClass::Terminal,
                false,
                Reason::ExportTerminal,
            ),
            (
                SinkError::invalid_payload("x"),
                ErrorClass::Terminal,
                false,
                Reason::ExportTerminal,
            ),
            (
                SinkError::misconfigured("x"),
                ErrorClass::Terminal,
                false,
                Reason::ExportTerminal,
            ),
            (
                SinkError::payload_too_large("x"),
                ErrorClass::Terminal,
                false,
                Reason::PayloadTooLarge,
            ),
        ];
        for (error, class, retriable, reason) in cases {
            assert_eq!(error.class(), class, "{error}");
            assert_eq!(error.is_retriable(), retriable, "{error}");
            assert_eq!(error.reason(), reason, "{error}");
        }
    }

    #[test]
    fn messages_are_lowercase_and_leave_the_source_out() {
        let error = SinkError::unreachable("connect to nats://nats:4222")
            .with_source(io::Error::other("Connection refused (os error 111)"));
        assert_eq!(
            error.to_string(),
            "sink unreachable: connect to nats://nats:4222"
        );
        let source = error.source().expect("source kept");
        assert_eq!(source.to_string(), "Connection refused (os error 111)");
        let open = SinkError::CircuitOpen { sink: sink() };
        assert_eq!(
            open.to_string(),
            "sink circuit breaker open for \"team-a/snapshot/git\""
        );
        assert!(
            open.with_source(io::Error::other("ignored"))
                .source()
                .is_none()
        );
    }

    #[test]
    fn an_oversize_row_keeps_the_row_in_the_source() {
        let error = SinkError::from(kollect_aggregate::PayloadTooLarge {
            max_bytes: 900,
            needed: 1200,
            target: "default/t".into(),
            namespace: "default".into(),
            name: "big".into(),
            uid: "u-1".into(),
        });
        assert_eq!(error.reason(), Reason::PayloadTooLarge);
        assert_eq!(
            error.to_string(),
            "payload too large: a row does not fit in one part of 900 bytes"
        );
        let source = error.source().expect("the row is the source").to_string();
        assert!(source.contains("default/big"), "{source}");
        assert!(!error.is_backend_failure());
    }

    #[rstest]
    #[case(io::ErrorKind::ConnectionRefused, ErrorClass::Transient, true)]
    #[case(io::ErrorKind::ConnectionReset, ErrorClass::Transient, true)]
    #[case(io::ErrorKind::BrokenPipe, ErrorClass::Transient, true)]
    #[case(io::ErrorKind::UnexpectedEof, ErrorClass::Transient, true)]
    #[case(io::ErrorKind::TimedOut, ErrorClass::Transient, true)]
    #[case(io::ErrorKind::Interrupted, ErrorClass::Transient, true)]
    #[case(io::ErrorKind::WouldBlock, ErrorClass::Transient, true)]
    #[case(io::ErrorKind::Other, ErrorClass::Transient, true)]
    #[case(io::ErrorKind::StorageFull, ErrorClass::Transient, true)]
    #[case(io::ErrorKind::OutOfMemory, ErrorClass::Transient, true)]
    #[case(io::ErrorKind::PermissionDenied, ErrorClass::Forbidden, false)]
    #[case(io::ErrorKind::ReadOnlyFilesystem, ErrorClass::Forbidden, false)]
    #[case(io::ErrorKind::AlreadyExists, ErrorClass::Transient, true)]
    #[case(io::ErrorKind::NotFound, ErrorClass::Terminal, false)]
    #[case(io::ErrorKind::InvalidInput, ErrorClass::Terminal, false)]
    #[case(io::ErrorKind::Unsupported, ErrorClass::Terminal, false)]
    #[case(io::ErrorKind::InvalidData, ErrorClass::Terminal, false)]
    #[case(io::ErrorKind::FileTooLarge, ErrorClass::Terminal, false)]
    fn io_errors_are_classified_by_kind(
        #[case] kind: io::ErrorKind,
        #[case] class: ErrorClass,
        #[case] retriable: bool,
    ) {
        let error = SinkError::from_io("write inventory/team-a/apps.json", io::Error::from(kind));
        assert_eq!(error.class(), class, "{kind:?} -> {error:?}");
        assert_eq!(error.is_retriable(), retriable, "{kind:?}");
        assert!(error.source().is_some(), "the io error is kept");
        assert!(
            error
                .to_string()
                .contains("write inventory/team-a/apps.json")
        );
    }

    #[test]
    fn an_io_error_without_os_detail_still_classifies() {
        // A custom error wrapping nothing but text: kind Other.
        let error = SinkError::from_io("flush", io::Error::other("disk on fire"));
        assert!(matches!(error, SinkError::Other { .. }));
        // A raw OS error code maps through its kind (111 is ECONNREFUSED on Linux).
        let refused = SinkError::from_io("connect", io::Error::from_raw_os_error(111));
        assert!(
            matches!(refused, SinkError::Unreachable { .. }),
            "{refused:?}"
        );
    }

    #[rstest]
    #[case(400, "InvalidPayload")]
    #[case(422, "InvalidPayload")]
    #[case(401, "Unauthenticated")]
    #[case(407, "Unauthenticated")]
    #[case(403, "PermissionDenied")]
    #[case(404, "Misconfigured")]
    #[case(405, "Misconfigured")]
    #[case(410, "Misconfigured")]
    #[case(501, "Misconfigured")]
    #[case(409, "Conflict")]
    #[case(412, "Conflict")]
    #[case(413, "PayloadTooLarge")]
    #[case(408, "Timeout")]
    #[case(504, "Timeout")]
    #[case(429, "Throttled")]
    #[case(500, "Unreachable")]
    #[case(502, "Unreachable")]
    #[case(503, "Unreachable")]
    // Odd inputs: unlisted client and server errors, non-errors and non-HTTP numbers.
    #[case(418, "Other")]
    #[case(451, "Other")]
    #[case(507, "Other")]
    #[case(599, "Other")]
    #[case(200, "Other")]
    #[case(204, "Other")]
    #[case(304, "Other")]
    #[case(100, "Other")]
    #[case(0, "Other")]
    #[case(99, "Other")]
    #[case(600, "Other")]
    #[case(u16::MAX, "Other")]
    fn http_statuses_are_classified(#[case] status: u16, #[case] kind: &str) {
        let error = SinkError::from_http_status("put object inventory/team-a/apps.json", status);
        let debug = format!("{error:?}");
        assert!(debug.starts_with(kind), "{status} -> {debug}");
        assert!(
            error
                .to_string()
                .ends_with(&format!("(http status {status})")),
            "{error}"
        );
    }

    #[test]
    fn aggregation_is_terminal_only_when_every_failure_is() {
        use ErrorClass::{Forbidden, Terminal, Transient};
        assert_eq!(ErrorClass::aggregate([]), None);
        assert_eq!(ErrorClass::aggregate([Terminal]), Some(Terminal));
        assert_eq!(ErrorClass::aggregate([Forbidden]), Some(Forbidden));
        assert_eq!(ErrorClass::aggregate([Terminal, Terminal]), Some(Terminal));
        assert_eq!(
            ErrorClass::aggregate([Terminal, Transient]),
            Some(Transient)
        );
        assert_eq!(
            ErrorClass::aggregate([Forbidden, Terminal]),
            Some(Transient)
        );
    }
}
