//! The backend's own errors, and their classification into [`SinkError`] kinds where the module
//! ends (STYLE §3): the message says what failed, the `object_store` (or encoder) error stays the
//! source.
//!
//! | What the chain holds | Kind |
//! |---|---|
//! | HTTP status with an S3 credential code (`InvalidAccessKeyId`, `SignatureDoesNotMatch`, …) | `Unauthenticated` |
//! | HTTP status with `NoSuchBucket` | `Misconfigured` |
//! | HTTP status with `SlowDown` | `Throttled` |
//! | any other HTTP status | [`SinkError::from_http_status`] |
//! | a connection that failed or broke | `Unreachable` |
//! | a request that timed out | `Timeout` |
//! | an I/O error (local filesystem) | [`SinkError::from_io`] |
//! | a precondition that failed, an object that already exists | `Conflict` |
//! | an encoder failure | `InvalidPayload` |
//! | anything else | `Other` (transient) |

use std::{error::Error as StdError, io};

use kollect_export::SinkError;
use object_store::client::{HttpError, HttpErrorKind};

/// A configuration field that cannot work: `spec.endpoint: the endpoint must include a bucket`.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub(crate) struct ConfigError {
    field: &'static str,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl From<ConfigError> for SinkError {
    fn from(error: ConfigError) -> Self {
        SinkError::misconfigured(error.to_string())
    }
}

/// An encoder that could not produce an object.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EncodeError {
    /// Building the Arrow batch or writing Parquet failed.
    #[error("failed to write parquet")]
    Parquet(#[source] parquet::errors::ParquetError),
    /// Building an Arrow array failed.
    #[error("failed to build an arrow batch")]
    Arrow(#[source] arrow_schema::ArrowError),
    /// Writing a CSV record failed.
    #[error("failed to write csv")]
    Csv(#[source] csv::Error),
    /// Writing (or compressing) the bytes failed.
    #[error("failed to write the encoded bytes")]
    Write(#[source] io::Error),
    /// The upload stopped taking bytes (it failed; its own error is reported).
    #[error("the upload stopped taking bytes")]
    UploadStopped,
    /// The export has no part of this index (a bug of the sink).
    #[error("the export has no part {index}")]
    MissingPart {
        /// The index asked for.
        index: usize,
    },
    /// A part held in an envelope could not be read back into rows.
    #[error("failed to read the rows of part {index}")]
    DecodePart {
        /// The part's index.
        index: usize,
        /// Why.
        #[source]
        source: kollect_export::DecodeError,
    },
}

impl From<io::Error> for EncodeError {
    fn from(error: io::Error) -> Self {
        // The chunk writer reports a closed upload as `BrokenPipe` wrapped around this marker.
        if is_upload_stopped(&error) {
            Self::UploadStopped
        } else {
            Self::Write(error)
        }
    }
}

impl From<parquet::errors::ParquetError> for EncodeError {
    fn from(error: parquet::errors::ParquetError) -> Self {
        Self::Parquet(error)
    }
}

impl From<arrow_schema::ArrowError> for EncodeError {
    fn from(error: arrow_schema::ArrowError) -> Self {
        Self::Arrow(error)
    }
}

impl From<csv::Error> for EncodeError {
    fn from(error: csv::Error) -> Self {
        // csv wraps the writer's I/O errors; a stopped upload stays recognisable.
        if let csv::ErrorKind::Io(io) = error.kind()
            && is_upload_stopped(io)
        {
            return Self::UploadStopped;
        }
        Self::Csv(error)
    }
}

/// Whether `error` is the chunk writer's "the upload is gone".
fn is_upload_stopped(error: &io::Error) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<UploadStoppedMarker>())
        .is_some()
}

/// The inner error of the `BrokenPipe` the chunk writer returns once the upload is gone.
#[derive(Debug, thiserror::Error)]
#[error("the upload stopped taking bytes")]
pub(crate) struct UploadStoppedMarker;

/// What the backend failed to do. Converted into a [`SinkError`] by [`Error::into_sink_error`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("failed to build the {kind} client for {destination}")]
    BuildClient {
        kind: &'static str,
        destination: String,
        #[source]
        source: object_store::Error,
    },
    #[error("failed to set up TLS")]
    Tls {
        #[source]
        source: rustls::Error,
    },
    #[error("failed to create directory {path}")]
    CreateDirectory {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("object key {key:?} is not a valid object path")]
    InvalidKey {
        key: String,
        #[source]
        source: object_store::path::Error,
    },
    #[error("failed to list objects under {prefix:?}")]
    ListObjects {
        prefix: String,
        #[source]
        source: object_store::Error,
    },
    #[error("failed to read {key}")]
    GetObject {
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("failed to check {key}")]
    HeadObject {
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("failed to upload {key}")]
    PutObject {
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("failed to delete leftover part {key}")]
    DeleteObject {
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("failed to encode {key} as {format}")]
    Encode {
        key: String,
        format: &'static str,
        #[source]
        source: EncodeError,
    },
    #[error("the encoder of {key} stopped unexpectedly")]
    EncoderTask {
        key: String,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("probe of {destination} did not finish within {seconds} s")]
    ProbeTimeout { destination: String, seconds: u64 },
}

impl Error {
    /// The classified [`SinkError`]: this error's message as context, its source as source.
    pub(crate) fn into_sink_error(self) -> SinkError {
        let context = self.to_string();
        match self {
            Self::BuildClient { source, .. } => {
                SinkError::misconfigured(context).with_source(source)
            }
            Self::Tls { source } => SinkError::misconfigured(context).with_source(source),
            Self::CreateDirectory { source, .. } => SinkError::from_io(context, source),
            Self::InvalidKey { source, .. } => {
                SinkError::misconfigured(context).with_source(source)
            }
            Self::ListObjects { source, .. }
            | Self::GetObject { source, .. }
            | Self::HeadObject { source, .. }
            | Self::PutObject { source, .. }
            | Self::DeleteObject { source, .. } => classify(context, source),
            Self::Encode { source, .. } => SinkError::invalid_payload(context).with_source(source),
            Self::EncoderTask { source, .. } => SinkError::other(context).with_source(source),
            Self::ProbeTimeout { .. } => SinkError::timeout(context),
        }
    }
}

impl From<Error> for SinkError {
    fn from(error: Error) -> Self {
        error.into_sink_error()
    }
}

/// S3 error codes that mean the credentials themselves are wrong.
const CREDENTIAL_CODES: [&str; 6] = [
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidSecurity",
];

/// Classifies an `object_store` error by what its source chain holds (see the module table).
pub(crate) fn classify(context: String, error: object_store::Error) -> SinkError {
    let kind = Kind::of(&error);
    let sink_error = match kind {
        Kind::Status { status, body } => classify_status(context, status, body.as_deref()),
        Kind::Http(http) => match http {
            HttpErrorKind::Connect | HttpErrorKind::Request | HttpErrorKind::Interrupted => {
                SinkError::unreachable(context)
            }
            HttpErrorKind::Timeout => SinkError::timeout(context),
            _ => SinkError::other(context),
        },
        Kind::Io(kind) => SinkError::from_io(context, io::Error::from(kind)),
        Kind::Unsupported => SinkError::misconfigured(context),
        Kind::Unknown => SinkError::other(context),
    };
    sink_error.with_source(error)
}

fn classify_status(context: String, status: u16, body: Option<&str>) -> SinkError {
    let body = body.unwrap_or_default();
    if CREDENTIAL_CODES.iter().any(|code| body.contains(code)) {
        return SinkError::unauthenticated(format!("{context} (http status {status})"));
    }
    if body.contains("NoSuchBucket") {
        return SinkError::misconfigured(format!("{context}: the bucket does not exist"));
    }
    if body.contains("SlowDown") {
        return SinkError::throttled(format!("{context} (http status {status})"));
    }
    SinkError::from_http_status(context, status)
}

/// What an `object_store` error's chain tells about the failure.
enum Kind {
    Status { status: u16, body: Option<String> },
    Http(HttpErrorKind),
    Io(io::ErrorKind),
    Unsupported,
    Unknown,
}

impl Kind {
    /// A transport or I/O error anywhere in the chain wins; else the HTTP status, from the
    /// variant `object_store` mapped it to or, for the others, from the request error's text
    /// (its `RetryError` is not public), with the whole chain as the body for S3 error codes.
    fn of(error: &object_store::Error) -> Self {
        let mut text = String::new();
        let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(current) = cause {
            if let Some(http) = current.downcast_ref::<HttpError>() {
                return Self::Http(http.kind());
            }
            if let Some(io) = current.downcast_ref::<io::Error>() {
                return Self::Io(io.kind());
            }
            text.push_str(&current.to_string());
            text.push('\n');
            cause = current.source();
        }
        let status = match error {
            object_store::Error::NotFound { .. } => Some(404),
            object_store::Error::PermissionDenied { .. } => Some(403),
            object_store::Error::Unauthenticated { .. } => Some(401),
            object_store::Error::Precondition { .. } => Some(412),
            object_store::Error::AlreadyExists { .. } => Some(409),
            object_store::Error::NotSupported { .. }
            | object_store::Error::NotImplemented { .. }
            | object_store::Error::UnknownConfigurationKey { .. } => return Self::Unsupported,
            _ => status_in(&text),
        };
        match status {
            Some(status) => Self::Status {
                status,
                body: Some(text),
            },
            None => Self::Unknown,
        }
    }
}

/// The status of `object_store`'s "Server returned non-2xx status code: 503 …" text.
fn status_in(text: &str) -> Option<u16> {
    const MARKER: &str = "status code: ";
    let start = text.find(MARKER)? + MARKER.len();
    text.get(start..start + 3)?.parse().ok()
}
