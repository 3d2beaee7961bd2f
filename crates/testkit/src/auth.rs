//! Authentication by bearer token, RBAC authorization of every request, and the review kinds
//! (`SelfSubjectAccessReview`, `SubjectAccessReview`, `TokenReview`, `SelfSubjectReview`).

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Value, json};

pub(crate) use crate::rbac::UserInfo;
use crate::{
    rbac::{self, Attributes, Decision, Policy},
    resources::{GroupResource, ResourceType},
    server::{Req, Shared, Target, lock},
    status::{ApiError, ApiResult},
};

/// The superuser group: members skip RBAC, as on a real apiserver.
const MASTERS: &str = "system:masters";

/// The user a token stands for, if any.
fn user_for_token(shared: &Shared, token: &str) -> Option<UserInfo> {
    let options = &shared.options;
    let mut user = if token == options.admin_token {
        UserInfo {
            username: "kollect-testkit-admin".into(),
            uid: "kollect-testkit-admin".into(),
            groups: vec![MASTERS.into()],
        }
    } else {
        let known = options.tokens.iter().find(|t| t.token == token)?;
        UserInfo {
            username: known.username.clone(),
            uid: known.uid.clone(),
            groups: known.groups.clone(),
        }
    };
    user.groups.push("system:authenticated".into());
    Some(user)
}

/// Who sent a request: the bearer token's user, or anonymous when allowed.
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> ApiResult<UserInfo> {
    let authorization = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match authorization {
        Some(value) => {
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or_else(ApiError::unauthorized)?
                .trim();
            user_for_token(shared, token).ok_or_else(ApiError::unauthorized)
        }
        None if shared.options.anonymous => Ok(UserInfo {
            username: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
        }),
        None => Err(ApiError::unauthorized()),
    }
}

/// The RBAC objects, parsed once per change of any of them.
#[derive(Debug, Default)]
pub(crate) struct RbacObjects {
    roles: Vec<Value>,
    cluster_roles: Vec<Value>,
    role_bindings: Vec<Value>,
    cluster_role_bindings: Vec<Value>,
}

fn rbac_objects(shared: &Shared) -> Arc<RbacObjects> {
    let state = lock(&shared.state);
    let generation = state.rbac_generation;
    let mut cache = lock(&shared.rbac);
    if let Some((cached, objects)) = cache.as_ref()
        && *cached == generation
    {
        return Arc::clone(objects);
    }
    let load = |resource: &str| -> Vec<Value> {
        let gr = GroupResource {
            group: "rbac.authorization.k8s.io".into(),
            resource: resource.into(),
        };
        state
            .objects_in(&gr, None)
            .iter()
            .map(|(_, s)| s.value())
            .collect()
    };
    let objects = Arc::new(RbacObjects {
        roles: load("roles"),
        cluster_roles: load("clusterroles"),
        role_bindings: load("rolebindings"),
        cluster_role_bindings: load("clusterrolebindings"),
    });
    *cache = Some((generation, Arc::clone(&objects)));
    objects
}

fn decide(shared: &Shared, user: &UserInfo, attributes: &Attributes) -> Decision {
    if user.groups.iter().any(|g| g == MASTERS) {
        return Decision::Allow("superuser (system:masters)".into());
    }
    let objects = rbac_objects(shared);
    rbac::authorize(
        user,
        attributes,
        &Policy {
            roles: &objects.roles,
            cluster_roles: &objects.cluster_roles,
            role_bindings: &objects.role_bindings,
            cluster_role_bindings: &objects.cluster_role_bindings,
        },
    )
}

/// Authorizes a resource request; 403 with the apiserver's message when RBAC says no.
pub(crate) fn authorize_resource(
    shared: &Shared,
    req: &Req,
    target: &Target,
    verb: &str,
) -> ApiResult<()> {
    let attributes = Attributes {
        verb: verb.to_owned(),
        resource_request: true,
        api_group: target.rt.group.clone(),
        resource: target.rt.resource.clone(),
        subresource: target.subresource.clone().unwrap_or_default(),
        namespace: target.namespace.clone().unwrap_or_default(),
        name: target
            .name
            .clone()
            .or_else(|| selected_name(req, verb))
            .unwrap_or_default(),
        path: req.path.clone(),
    };
    match decide(shared, &req.user, &attributes) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(_) => Err(ApiError::forbidden(
            Some(&target.rt),
            &attributes.name,
            rbac::forbidden_message(&req.user, &attributes),
        )),
    }
}

/// The name a list or watch is limited to by `fieldSelector=metadata.name=x`: the apiserver
/// authorizes such requests for that name (so `resourceNames` rules allow `get -w` of one object).
fn selected_name(req: &Req, verb: &str) -> Option<String> {
    if !matches!(verb, "list" | "watch") {
        return None;
    }
    let selector = req.param("fieldSelector")?;
    let name = selector
        .strip_prefix("metadata.name==")
        .or_else(|| selector.strip_prefix("metadata.name="))?;
    (!name.is_empty() && !name.contains(',')).then(|| name.to_owned())
}

/// Authorizes a non-resource request (discovery, version, health).
pub(crate) fn authorize_path(shared: &Shared, req: &Req) -> ApiResult<()> {
    let attributes = Attributes {
        verb: req.method.as_str().to_ascii_lowercase(),
        resource_request: false,
        path: req.path.clone(),
        ..Attributes::default()
    };
    match decide(shared, &req.user, &attributes) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(_) => Err(ApiError::forbidden(
            None,
            "",
            rbac::forbidden_message(&req.user, &attributes),
        )),
    }
}

fn attributes_from_spec(spec: &Value) -> ApiResult<Attributes> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    if let Some(resource) = spec.get("resourceAttributes") {
        return Ok(Attributes {
            verb: text(resource, "verb"),
            resource_request: true,
            api_group: text(resource, "group"),
            resource: text(resource, "resource"),
            subresource: text(resource, "subresource"),
            namespace: text(resource, "namespace"),
            name: text(resource, "name"),
            path: String::new(),
        });
    }
    if let Some(path) = spec.get("nonResourceAttributes") {
        return Ok(Attributes {
            verb: text(path, "verb"),
            resource_request: false,
            path: text(path, "path"),
            ..Attributes::default()
        });
    }
    Err(ApiError::new(
        422,
        "Invalid",
        "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
    ))
}

fn access_status(decision: Decision) -> Value {
    match decision {
        Decision::Allow(reason) => json!({"allowed": true, "reason": reason}),
        Decision::Deny(reason) => json!({"allowed": false, "reason": reason}),
    }
}

/// Answers a review kind's create.
pub(crate) fn review(shared: &Shared, req: &Req, rt: &ResourceType) -> ApiResult<Value> {
    let protobuf = req
        .content_type
        .starts_with("application/vnd.kubernetes.protobuf");
    let mut object: Value = if protobuf && rt.kind == "SelfSubjectAccessReview" {
        crate::proto::decode_self_subject_access_review(&req.body).map_err(ApiError::bad_request)?
    } else if protobuf {
        return Err(ApiError::unsupported_media_type(
            &req.content_type,
            crate::status::OBJECT_MEDIA_TYPES,
        ));
    } else {
        serde_json::from_slice(&req.body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?
    };
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the request body is not a JSON object",
        ));
    }
    object["apiVersion"] = json!(rt.api_version());
    object["kind"] = json!(rt.kind);
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]["creationTimestamp"] = Value::Null;
    let spec = object.get("spec").cloned().unwrap_or_default();
    let status = match rt.kind.as_str() {
        "SelfSubjectAccessReview" => {
            access_status(decide(shared, &req.user, &attributes_from_spec(&spec)?))
        }
        "SubjectAccessReview" => {
            let user = UserInfo {
                username: spec
                    .get("user")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                uid: spec
                    .get("uid")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                groups: spec
                    .get("groups")
                    .and_then(Value::as_array)
                    .map(|g| {
                        g.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            if user.username.is_empty() && user.groups.is_empty() {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    "spec.user: Invalid value: \"\": at least one of user or group must be specified",
                ));
            }
            access_status(decide(shared, &user, &attributes_from_spec(&spec)?))
        }
        "TokenReview" => {
            let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
            match user_for_token(shared, token) {
                Some(user) => {
                    json!({"authenticated": true, "user": {"username": user.username, "uid": user.uid, "groups": user.groups}, "audiences": spec.get("audiences").cloned().unwrap_or(json!([]))})
                }
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            }
        }
        "SelfSubjectReview" => {
            json!({"userInfo": {"username": req.user.username, "uid": req.user.uid, "groups": req.user.groups}})
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    object["status"] = status;
    Ok(object)
}
