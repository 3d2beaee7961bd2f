//! Failures as the apiserver reports them: an HTTP status and a `Status` object whose `reason`
//! clients switch on (kube-rs `ErrorResponse`, client-go `apierrors.IsNotFound` and friends).

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// Body types of create and update.
pub(crate) const OBJECT_MEDIA_TYPES: &str = "application/json, application/yaml";
/// Body types of patch on built-in kinds.
pub(crate) const PATCH_MEDIA_TYPES: &str = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json";
/// Body types of patch on custom resources (no strategic merge patch).
pub(crate) const CUSTOM_PATCH_MEDIA_TYPES: &str =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

/// Largest request body accepted, as the apiserver's limit (3 MiB).
pub(crate) const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// A failed request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError {
    /// HTTP status.
    pub(crate) code: u16,
    /// `Status.reason`.
    pub(crate) reason: &'static str,
    /// `Status.message`.
    pub(crate) message: String,
    /// `Status.details`, when the apiserver sends them.
    pub(crate) details: Option<Value>,
    /// `Retry-After` seconds, for 429.
    pub(crate) retry_after: Option<u64>,
}

/// Result of a request handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

fn details(resource: &ResourceType, name: &str) -> Value {
    let mut details = json!({"name": name, "kind": resource.resource});
    if !resource.group.is_empty() {
        details["group"] = json!(resource.group);
    }
    details
}

impl ApiError {
    /// A failure with no details.
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 400 `BadRequest`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 404 for a path that names no served resource.
    pub(crate) fn no_such_resource() -> Self {
        let mut error = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        error.details = Some(
            json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}),
        );
        error
    }

    /// 404 `NotFound` for an object.
    pub(crate) fn not_found(resource: &ResourceType, name: &str) -> Self {
        let mut error = Self::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", resource.qualified()),
        );
        error.details = Some(details(resource, name));
        error
    }

    /// 404 for a missing namespace.
    pub(crate) fn namespace_not_found(namespace: &str) -> Self {
        let mut error = Self::new(
            404,
            "NotFound",
            format!("namespaces {namespace:?} not found"),
        );
        error.details = Some(json!({"name": namespace, "kind": "namespaces"}));
        error
    }

    /// 409 `AlreadyExists`.
    pub(crate) fn already_exists(resource: &ResourceType, name: &str) -> Self {
        let mut error = Self::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", resource.qualified()),
        );
        error.details = Some(details(resource, name));
        error
    }

    /// 409 `Conflict` on a stale resourceVersion or a failed precondition.
    pub(crate) fn conflict(resource: &ResourceType, name: &str, why: &str) -> Self {
        let mut error = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: {why}",
                resource.qualified()
            ),
        );
        error.details = Some(details(resource, name));
        error
    }

    /// 409 `Conflict` for a stale resourceVersion.
    pub(crate) fn stale(resource: &ResourceType, name: &str) -> Self {
        Self::conflict(
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 `Invalid` with one cause per `(field, message)`; `message` reads `Invalid value: ...`.
    pub(crate) fn invalid(
        resource: &ResourceType,
        name: &str,
        causes: &[(String, String)],
    ) -> Self {
        let summary: Vec<String> = causes
            .iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect();
        let mut error = Self::new(
            422,
            "Invalid",
            format!(
                "{} {name:?} is invalid: {}",
                resource.kind,
                join_causes(&summary)
            ),
        );
        let mut details = json!({
            "name": name,
            "kind": resource.kind,
            "causes": causes.iter().map(|(field, message)| json!({
                "reason": if message.starts_with("Required value") { "FieldValueRequired" } else { "FieldValueInvalid" },
                "message": message,
                "field": field,
            })).collect::<Vec<_>>(),
        });
        if !resource.group.is_empty() {
            details["group"] = json!(resource.group);
        }
        error.details = Some(details);
        error
    }

    /// 403 `Forbidden`.
    pub(crate) fn forbidden(resource: Option<&ResourceType>, name: &str, message: String) -> Self {
        let mut error = Self::new(403, "Forbidden", message);
        error.details = resource.map(|r| {
            let mut d = details(r, name);
            if name.is_empty() {
                d.as_object_mut().map(|m| m.remove("name"));
            }
            d
        });
        error
    }

    /// 401 `Unauthorized`.
    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 405 `MethodNotAllowed`.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 415 `UnsupportedMediaType` for a body type a write does not take; `accepted` lists the
    /// types it does (the apiserver's message names them).
    pub(crate) fn unsupported_media_type(content_type: &str, accepted: &str) -> Self {
        let got = if content_type.is_empty() {
            String::new()
        } else {
            format!("; got {content_type}")
        };
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}{got}"
            ),
        )
    }

    /// 413 `RequestEntityTooLarge`.
    pub(crate) fn too_large() -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {MAX_BODY_BYTES}"),
        )
    }

    /// 410 `Expired` for a continue token whose snapshot is gone.
    pub(crate) fn continue_expired() -> Self {
        Self::new(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        )
    }

    /// 410 `Expired` for a resourceVersion older than the history.
    pub(crate) fn too_old(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// 504 for a resourceVersion the server has not reached.
    pub(crate) fn too_large_rv(requested: u64, current: u64) -> Self {
        let mut error = Self::new(
            504,
            "Timeout",
            format!("Too large resource version: {requested}, current: {current}"),
        );
        error.details = Some(
            json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
        );
        error
    }

    /// 429 `TooManyRequests`.
    pub(crate) fn too_many_requests(retry_after: u64) -> Self {
        let mut error = Self::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        );
        error.details = Some(json!({"retryAfterSeconds": retry_after}));
        error.retry_after = Some(retry_after);
        error
    }

    /// 500 `InternalError`.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        let mut error = Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        );
        error.details = Some(json!({"causes": [{"message": message}]}));
        error
    }

    /// The `Status` object.
    pub(crate) fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

fn join_causes(causes: &[String]) -> String {
    if causes.len() == 1 {
        causes[0].clone()
    } else {
        format!("[{}]", causes.join(", "))
    }
}

/// Double-quotes `s` as Go's `%q` does for the strings found in names and paths.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ =
                    std::fmt::Write::write_fmt(&mut out, format_args!("\\x{:02x}", u32::from(c)));
            }
            c if c.is_control() => {
                let _ =
                    std::fmt::Write::write_fmt(&mut out, format_args!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
