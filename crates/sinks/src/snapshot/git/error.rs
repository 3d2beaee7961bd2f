//! The Git sink's own errors, and their classification into [`SinkError`] kinds where the
//! module ends (STYLE §3, DECISIONS D29).
//!
//! libgit2 reports a class (network, HTTP, SSH, TLS, …), a code (`Auth`, `Certificate`,
//! `NotFastForward`, …) and a message; HTTP statuses only appear in the message
//! (`unexpected HTTP status code: 403`). Classification uses all three, most specific first.

use std::{io, path::PathBuf};

use git2::{ErrorClass as GitClass, ErrorCode};
use kollect_export::SinkError;

/// A failed step of a Git export or probe.
#[derive(Debug, thiserror::Error)]
pub(super) enum Error {
    /// The sink's configuration cannot be used (names the field).
    #[error("{0}")]
    Config(String),
    /// The snapshot cannot be laid out as files (collision, missing attribute, bad path).
    #[error("{0}")]
    Layout(String),
    /// Connecting to the remote or listing its branches failed.
    #[error("failed to connect to {remote}")]
    Connect {
        remote: String,
        #[source]
        source: git2::Error,
    },
    /// Fetching the branch failed.
    #[error("failed to fetch {branch} from {remote}")]
    Fetch {
        remote: String,
        branch: String,
        #[source]
        source: git2::Error,
    },
    /// Pushing the commit failed.
    #[error("failed to push {branch} to {remote}")]
    Push {
        remote: String,
        branch: String,
        #[source]
        source: git2::Error,
    },
    /// The remote refused the ref update (hook, protected branch, lost race).
    #[error("{remote} rejected the update of {branch}: {status}")]
    Rejected {
        remote: String,
        branch: String,
        status: String,
    },
    /// The branch kept moving under us for every attempt.
    #[error(
        "{branch} on {remote} moved during each of {attempts} attempts; the snapshot was not \
         delivered"
    )]
    Contended {
        remote: String,
        branch: String,
        attempts: usize,
    },
    /// The export ran out of time between two steps.
    #[error("the export to {remote} did not finish within {seconds} s")]
    Deadline { remote: String, seconds: u64 },
    /// Reading or writing the local cache repository failed.
    #[error("failed to {action} in the local cache repository {}", path.display())]
    Repository {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    /// The cache directory cannot be used.
    #[error("failed to {action} the cache directory {}", path.display())]
    Cache {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The cache directory is unsafe to use.
    #[error("the cache directory {} is unsafe: {reason}", path.display())]
    UnsafeCache { path: PathBuf, reason: String },
    /// Encoding a file failed.
    #[error("failed to encode {path}")]
    Encode {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The blocking task running libgit2 did not finish.
    #[error("the git worker task failed")]
    Worker(#[source] tokio::task::JoinError),
}

pub(super) type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for SinkError {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::Config(_) | Error::UnsafeCache { .. } => SinkError::misconfigured(message),
            Error::Layout(_) => SinkError::invalid_payload(message),
            Error::Connect { ref source, .. }
            | Error::Fetch { ref source, .. }
            | Error::Push { ref source, .. } => {
                classify(source, message.clone()).with_source(error)
            }
            Error::Rejected { ref status, .. } => classify_rejection(status, message),
            Error::Contended { .. } => SinkError::conflict(message),
            Error::Deadline { .. } => SinkError::timeout(message),
            Error::Repository { .. } | Error::Worker(_) => {
                SinkError::other(message).with_source(error)
            }
            Error::Cache { source, .. } | Error::Encode { source, .. } => {
                SinkError::from_io(message, source)
            }
        }
    }
}

/// The kind of a libgit2 transport error. `context` becomes the message, followed by a hint
/// where one helps.
fn classify(error: &git2::Error, context: String) -> SinkError {
    let text = error.message().to_ascii_lowercase();
    if let Some(status) = http_status(&text) {
        return match status {
            401 | 407 => SinkError::unauthenticated(format!(
                "{context}: git auth failed: the remote refused the credentials (http status {status})"
            )),
            403 => SinkError::permission_denied(format!(
                "{context}: the credentials may not access the repository (http status 403)"
            )),
            404 => SinkError::misconfigured(format!(
                "{context}: repository not found (http status 404); check spec.endpoint"
            )),
            _ => SinkError::from_http_status(context, status),
        };
    }
    match error.code() {
        ErrorCode::Auth => {
            return SinkError::unauthenticated(format!(
                "{context}: git auth failed: {}",
                error.message()
            ));
        }
        ErrorCode::Certificate => {
            return SinkError::misconfigured(format!(
                "{context}: {}; for https trust the server's CA with spec.tls.caBundle or \
                 caSecretRef, for ssh add the host key to known_hosts in the Secret",
                error.message()
            ));
        }
        ErrorCode::NotFastForward => return SinkError::conflict(context),
        _ => {}
    }
    if text.contains("timed out") || text.contains("timeout") {
        return SinkError::timeout(context);
    }
    if error.class() == GitClass::Ssh
        && (text.contains("authentication")
            || text.contains("publickey")
            || text.contains("username"))
    {
        return SinkError::unauthenticated(format!(
            "{context}: git auth failed: {}",
            error.message()
        ));
    }
    if error.class() == GitClass::Ssl && text.contains("certificate") {
        return SinkError::misconfigured(format!(
            "{context}: {}; trust the server's CA with spec.tls.caBundle or caSecretRef",
            error.message()
        ));
    }
    if text.contains("callback")
        && (text.contains("user cancelled") || text.contains("user canceled"))
    {
        return SinkError::timeout(context);
    }
    if text.contains("not found") && text.contains("repository") {
        return SinkError::misconfigured(format!("{context}: {}", error.message()));
    }
    match error.class() {
        GitClass::Net | GitClass::Os | GitClass::Ssh | GitClass::Ssl | GitClass::Http => {
            SinkError::unreachable(context)
        }
        _ => SinkError::other(context),
    }
}

/// The HTTP status in a libgit2 message such as `unexpected HTTP status code: 403`.
fn http_status(text: &str) -> Option<u16> {
    let (_, rest) = text.split_once("status code: ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A ref update the remote refused, by its status text (`pre-receive hook declined`,
/// `protected branch hook declined`, `failed to update ref`, …).
fn classify_rejection(status: &str, message: String) -> SinkError {
    let status = status.to_ascii_lowercase();
    if status.contains("non-fast-forward")
        || status.contains("fetch first")
        || status.contains("failed to update ref")
        || status.contains("failed to lock")
        || status.contains("stale info")
        || status.contains("cannot lock ref")
    {
        SinkError::conflict(message)
    } else if status.contains("hook declined")
        || status.contains("protected branch")
        || status.contains("denied")
        || status.contains("not allowed")
    {
        SinkError::permission_denied(message)
    } else {
        SinkError::other(message)
    }
}

/// Whether a push failure means "the branch moved": worth another fetch-and-rebuild round.
pub(super) fn is_moved(error: &Error) -> bool {
    match error {
        Error::Push { source, .. } => source.code() == ErrorCode::NotFastForward,
        Error::Rejected { status, .. } => {
            matches!(
                classify_rejection(status, String::new()),
                SinkError::Conflict { .. }
            )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git_error(code: ErrorCode, class: GitClass, message: &str) -> git2::Error {
        git2::Error::new(code, class, message)
    }

    fn kind(error: &SinkError) -> String {
        format!("{error:?}")
            .split([' ', '{'])
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn transport_errors_are_classified() {
        let cases = [
            (
                git_error(
                    ErrorCode::GenericError,
                    GitClass::Http,
                    "unexpected HTTP status code: 403",
                ),
                "PermissionDenied",
            ),
            (
                git_error(
                    ErrorCode::GenericError,
                    GitClass::Http,
                    "unexpected HTTP status code: 404",
                ),
                "Misconfigured",
            ),
            (
                git_error(
                    ErrorCode::GenericError,
                    GitClass::Http,
                    "unexpected HTTP status code: 503",
                ),
                "Unreachable",
            ),
            (
                git_error(
                    ErrorCode::Auth,
                    GitClass::Http,
                    "too many redirects or authentication replays",
                ),
                "Unauthenticated",
            ),
            (
                git_error(
                    ErrorCode::GenericError,
                    GitClass::Net,
                    "failed to connect to 127.0.0.1: Connection refused",
                ),
                "Unreachable",
            ),
            (
                git_error(
                    ErrorCode::GenericError,
                    GitClass::Net,
                    "failed to resolve address for nowhere.invalid",
                ),
                "Unreachable",
            ),
            (
                git_error(
                    ErrorCode::Certificate,
                    GitClass::Ssl,
                    "the SSL certificate is invalid",
                ),
                "Misconfigured",
            ),
            (
                git_error(
                    ErrorCode::GenericError,
                    GitClass::Ssh,
                    "Failed to authenticate SSH session: Unable to send userauth-publickey request",
                ),
                "Unauthenticated",
            ),
            (
                git_error(
                    ErrorCode::NotFastForward,
                    GitClass::Reference,
                    "cannot push non-fastforwardable reference",
                ),
                "Conflict",
            ),
            (
                git_error(ErrorCode::GenericError, GitClass::Odb, "object not found"),
                "Other",
            ),
        ];
        for (source, expected) in cases {
            let text = source.message().to_owned();
            let error: SinkError = Error::Push {
                remote: "https://git.example.org/r.git".into(),
                branch: "main".into(),
                source,
            }
            .into();
            assert_eq!(kind(&error), expected, "{text}: {error:?}");
        }
    }

    #[test]
    fn rejections_are_classified_by_status() {
        let rejected = |status: &str| -> SinkError {
            Error::Rejected {
                remote: "r".into(),
                branch: "main".into(),
                status: status.into(),
            }
            .into()
        };
        assert_eq!(
            kind(&rejected("pre-receive hook declined")),
            "PermissionDenied"
        );
        assert_eq!(kind(&rejected("failed to update ref")), "Conflict");
        assert_eq!(kind(&rejected("something odd")), "Other");
        assert!(is_moved(&Error::Rejected {
            remote: "r".into(),
            branch: "main".into(),
            status: "non-fast-forward".into(),
        }));
    }

    #[test]
    fn http_statuses_are_read_from_messages() {
        assert_eq!(http_status("unexpected http status code: 401"), Some(401));
        assert_eq!(
            http_status("request failed with status code: 500 (x)"),
            Some(500)
        );
        assert_eq!(http_status("no status here"), None);
    }
}
