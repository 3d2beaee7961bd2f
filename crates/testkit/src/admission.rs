//! Validating admission webhooks: every `ValidatingWebhookConfiguration` whose rules match a
//! write is called over HTTPS (trusting its `caBundle`) with an `admission.k8s.io/v1`
//! `AdmissionReview`; a denial or a failed call under `failurePolicy: Fail` rejects the write.
//!
//! Only `clientConfig.url` is supported: there is no cluster network to reach a
//! `clientConfig.service`, so such webhooks count as failed calls (docs/testkit.md).

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{
    objects::namespaces,
    resources::{GroupResource, ResourceType},
    selector::LabelSelector,
    server::{Req, Shared, lock},
    status::{ApiError, ApiResult},
    tls,
};

/// Default webhook timeout, as the apiserver's (`timeoutSeconds` defaults to 10).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

fn webhook_configurations(shared: &Shared) -> Vec<Value> {
    let gr = GroupResource {
        group: "admissionregistration.k8s.io".into(),
        resource: "validatingwebhookconfigurations".into(),
    };
    lock(&shared.state)
        .objects_in(&gr, None)
        .iter()
        .map(|(_, s)| s.value())
        .collect()
}

fn strings(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn listed(list: &[String], item: &str) -> bool {
    list.iter().any(|l| l == "*" || l == item)
}

/// Whether a webhook's `rules` cover this operation on this resource.
fn rules_match(webhook: &Value, rt: &ResourceType, operation: &str, subresource: &str) -> bool {
    let resource = if subresource.is_empty() {
        rt.resource.clone()
    } else {
        format!("{}/{subresource}", rt.resource)
    };
    webhook
        .get("rules")
        .and_then(Value::as_array)
        .is_some_and(|rules| {
            rules.iter().any(|rule| {
                let scope = rule.get("scope").and_then(Value::as_str).unwrap_or("*");
                let scope_ok = match scope {
                    "Namespaced" => rt.namespaced,
                    "Cluster" => !rt.namespaced,
                    _ => true,
                };
                let resources = strings(rule, "resources");
                let resource_ok = resources.iter().any(|r| {
                    r == "*" && subresource.is_empty()
                        || *r == resource
                        || r == "*/*"
                        || r.strip_suffix("/*") == Some(rt.resource.as_str())
                            && !subresource.is_empty()
                });
                scope_ok
                    && resource_ok
                    && listed(&strings(rule, "operations"), operation)
                    && listed(&strings(rule, "apiGroups"), &rt.group)
                    && listed(&strings(rule, "apiVersions"), &rt.version)
            })
        })
}

fn selector_matches(
    selector: Option<&Value>,
    labels: Option<&serde_json::Map<String, Value>>,
) -> ApiResult<bool> {
    let selector = LabelSelector::from_json(selector.unwrap_or(&Value::Null))
        .map_err(|e| ApiError::internal(format!("invalid webhook selector: {e}")))?;
    Ok(selector.matches(labels))
}

/// Calls the validating webhooks that match a write. `object` is the new object (absent on
/// delete), `old` the current one (absent on create).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn validate(
    shared: &Shared,
    req: &Req,
    rt: &ResourceType,
    operation: &str,
    namespace: &str,
    name: &str,
    object: Option<&Value>,
    old: Option<&Value>,
) -> ApiResult<()> {
    // Internal writes (preload) and writes to webhook configurations are never sent to webhooks.
    if req.path.is_empty() || rt.resource == "validatingwebhookconfigurations" {
        return Ok(());
    }
    let configurations = webhook_configurations(shared);
    if configurations.is_empty() {
        return Ok(());
    }
    let subresource = req
        .path
        .rsplit('/')
        .next()
        .filter(|last| *last == "status" && name != "status")
        .unwrap_or("");
    let labels_of = |o: Option<&Value>| {
        o.and_then(|o| o.pointer("/metadata/labels"))
            .and_then(Value::as_object)
            .cloned()
    };
    let labels = labels_of(object.or(old));
    let old_labels = labels_of(old);
    let namespace_labels = if rt.kind == "Namespace" && rt.group.is_empty() {
        labels.clone()
    } else if rt.namespaced {
        lock(&shared.state)
            .get(&namespaces(), &(String::new(), namespace.to_owned()))
            .and_then(|ns| {
                ns.value()
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .cloned()
            })
    } else {
        None
    };
    for configuration in configurations {
        let Some(webhooks) = configuration.get("webhooks").and_then(Value::as_array) else {
            continue;
        };
        for webhook in webhooks {
            if !rules_match(webhook, rt, operation, subresource) {
                continue;
            }
            let namespace_scoped = rt.namespaced || (rt.kind == "Namespace" && rt.group.is_empty());
            if namespace_scoped
                && !selector_matches(webhook.get("namespaceSelector"), namespace_labels.as_ref())?
            {
                continue;
            }
            // The object selector is met when the new or the old object matches.
            let selector = webhook.get("objectSelector");
            if !selector_matches(selector, labels.as_ref())?
                && (old.is_none() || !selector_matches(selector, old_labels.as_ref())?)
            {
                continue;
            }
            call(
                webhook,
                req,
                rt,
                operation,
                subresource,
                namespace,
                name,
                object,
                old,
            )
            .await?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn call(
    webhook: &Value,
    req: &Req,
    rt: &ResourceType,
    operation: &str,
    subresource: &str,
    namespace: &str,
    name: &str,
    object: Option<&Value>,
    old: Option<&Value>,
) -> ApiResult<()> {
    let webhook_name = webhook.get("name").and_then(Value::as_str).unwrap_or("");
    let fail_open = webhook.get("failurePolicy").and_then(Value::as_str) == Some("Ignore");
    let timeout = webhook
        .get("timeoutSeconds")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let uid = uuid::Uuid::new_v4().to_string();
    let kind = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let resource = json!({"group": rt.group, "version": rt.version, "resource": rt.resource});
    let mut request = json!({
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": name,
        "operation": operation,
        "userInfo": {"username": req.user.username, "uid": req.user.uid, "groups": req.user.groups},
        "object": object.cloned().unwrap_or(Value::Null),
        "oldObject": old.cloned().unwrap_or(Value::Null),
        "dryRun": req.param("dryRun").is_some(),
    });
    if !namespace.is_empty() {
        request["namespace"] = json!(namespace);
    }
    if !subresource.is_empty() {
        request["subResource"] = json!(subresource);
    }
    let review =
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
    let failed = |message: String| -> ApiResult<()> {
        if fail_open {
            tracing::warn!(webhook = webhook_name, %message, "webhook call failed; failurePolicy Ignore lets the request through");
            Ok(())
        } else {
            Err(ApiError::internal(format!(
                "failed calling webhook {webhook_name:?}: {message}"
            )))
        }
    };
    let Some(url) = webhook.pointer("/clientConfig/url").and_then(Value::as_str) else {
        return failed("clientConfig.service is not supported by kollect-testkit (no cluster network); use clientConfig.url".into());
    };
    let ca = match webhook
        .pointer("/clientConfig/caBundle")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
    {
        Some(encoded) => match base64::engine::general_purpose::STANDARD.decode(encoded) {
            Ok(pem) => Some(pem),
            Err(error) => return failed(format!("clientConfig.caBundle is not base64: {error}")),
        },
        None => None,
    };
    let body = serde_json::to_vec(&review).unwrap_or_default();
    let response = match tls::post_json(url, ca.as_deref(), body, timeout).await {
        Ok(response) => response,
        Err(error) => return failed(error_chain(&error)),
    };
    verdict(webhook_name, &uid, response.status, &response.body).or_else(|failure| match failure {
        Verdict::CallFailed(message) => failed(message),
        Verdict::Denied(error) => Err(error),
    })
}

/// Why a webhook answer does not let a request through.
enum Verdict {
    /// The answer is unusable: the failure policy decides.
    CallFailed(String),
    /// The webhook said no.
    Denied(ApiError),
}

/// Reads a webhook's answer to the review with `uid`.
fn verdict(webhook_name: &str, uid: &str, status: u16, body: &[u8]) -> Result<(), Verdict> {
    if !(200..300).contains(&status) {
        return Err(Verdict::CallFailed(format!(
            "the server responded with HTTP {status}"
        )));
    }
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| Verdict::CallFailed(format!("the response is not an AdmissionReview: {e}")))?;
    let Some(verdict) = answer.get("response") else {
        return Err(Verdict::CallFailed(
            "the AdmissionReview has no response".into(),
        ));
    };
    if verdict.get("uid").and_then(Value::as_str) != Some(uid) {
        return Err(Verdict::CallFailed(format!(
            "expected response.uid={uid:?}, got {:?}",
            verdict.get("uid")
        )));
    }
    if verdict.get("allowed").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let status = verdict.get("status").cloned().unwrap_or_default();
    let message = status.get("message").and_then(Value::as_str).unwrap_or("");
    let code = status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(403);
    let mut error = ApiError::new(
        code,
        "Forbidden",
        if message.is_empty() {
            format!("admission webhook {webhook_name:?} denied the request without explanation")
        } else {
            format!("admission webhook {webhook_name:?} denied the request: {message}")
        },
    );
    if let Some(reason) = status.get("reason").and_then(Value::as_str)
        && let Some(known) = known_reason(reason)
    {
        error.reason = known;
    }
    Err(Verdict::Denied(error))
}

/// Status reasons a webhook may pass through (they must be `'static`).
fn known_reason(reason: &str) -> Option<&'static str> {
    const REASONS: &[&str] = &[
        "Forbidden",
        "Invalid",
        "BadRequest",
        "Conflict",
        "NotFound",
        "AlreadyExists",
        "Unauthorized",
    ];
    REASONS.iter().copied().find(|r| *r == reason)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
